/**
 * Protocol message classes that are cheap to build where the fields are already known to be
 * right. A Schema class (`Schema.Class`, `TaggedClass`, `TaggedRequest`) copies its fields,
 * walks them for constructor defaults and then validates them. Even with validation off
 * (`new X(fields, true)`), the copy and the walk cost about 2 µs a message, and a decoder builds
 * every decoded message that way. `Message.trusted` keeps the class and its schema as they are,
 * and makes exactly that trusted construction a prototype plus the fields (about 0.2 µs).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** What `trusted` accepts: a Schema class (a constructor taking fields and make options, with `fields`). */
export interface SchemaClass {
  new(props: any, options?: any): object
  readonly fields: Schema.Struct.Fields
}

/** A field's constructor default, if it has one (as Schema's own constructor finds it). */
const hasConstructorDefault = (field: unknown): boolean => {
  if (!Schema.isPropertySignature(field)) return false
  const ast = field.ast
  return (ast._tag === "PropertySignatureDeclaration" ? ast.defaultValue : ast.to.defaultValue) !== undefined
}

/**
 * `Base` with a cheaper trusted construction: `new X(fields, true)` (what hot paths call with
 * fields built from typed state, and what the class's schema calls with decoded fields) gives an
 * instance of `X` with the fields (and the class's `_tag`) and nothing else, without the copy, the
 * defaults pass or validation. Any other call (`new X(fields)`, `new X(fields, { ... })`) goes
 * through Schema's constructor and validates as before. The instance is the same either way:
 * same prototype, same own fields, equal by `Equal`, encoded alike.
 *
 * A class with a constructor default other than `_tag` is refused when defined (a trusted build
 * would leave the default out): a defect at load time, not a missing field later.
 */
export const trusted = <C extends SchemaClass>(Base: C): C => {
  const tag: unknown = (Base as { readonly _tag?: unknown })._tag
  for (const key of Reflect.ownKeys(Base.fields)) {
    if (key !== "_tag" && hasConstructorDefault(Base.fields[key as string])) {
      throw new TypeError(`Message.trusted: field ${String(key)} has a constructor default`)
    }
  }
  class Trusted extends (Base as SchemaClass) {
    constructor(props: any, options?: any) {
      if (options === true) {
        // A derived constructor may return its own object instead of calling super.
        const self = Object.create(new.target.prototype)
        if (tag !== undefined) self._tag = tag
        return Object.assign(self, props)
      }
      super(props, options)
    }
  }
  return Trusted as unknown as C
}
