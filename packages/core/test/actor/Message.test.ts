import { describe, expect, it } from "@effect/vitest"
import { Either, Equal, Schema } from "effect"
import { Message } from "../../src/index.js"

class Point extends Message.trusted(Schema.Class<Point>("Point")({ x: Schema.Number, y: Schema.optional(Schema.Number) })) {}

class Move extends Message.trusted(Schema.TaggedRequest<Move>()("Move", {
  failure: Schema.Never,
  success: Point,
  payload: { to: Point, steps: Schema.Array(Schema.Int) }
})) {}

const Plain = Schema.TaggedRequest<Move>()("Move", {
  failure: Schema.Never,
  success: Point,
  payload: { to: Point, steps: Schema.Array(Schema.Int) }
})

describe("Message.trusted", () => {
  it("builds with trusted fields the instance Schema's constructor builds", () => {
    const fields = { to: new Point({ x: 1 }), steps: [1, 2] }
    const trusted = new Move(fields, true)
    const checked = new Move(fields)
    expect(trusted).toBeInstanceOf(Move)
    expect(Object.getPrototypeOf(trusted)).toBe(Move.prototype)
    expect(trusted._tag).toBe("Move")
    expect(Object.keys(trusted).sort()).toEqual(Object.keys(checked).sort())
    expect(trusted).toStrictEqual(checked)
    expect(Equal.equals(new Point({ x: 1, y: 2 }, true), new Point({ x: 1, y: 2 }))).toBe(true)
    expect(Equal.equals(new Point({ x: 1, y: 2 }, true), new Point({ x: 1, y: 3 }))).toBe(false)
    expect(Schema.is(Move)(trusted)).toBe(true)
    // The same encoding as the class without `trusted`.
    expect(Schema.encodeSync(Move)(trusted)).toEqual(Schema.encodeSync(Plain)(new Plain(fields)))
    expect(new Point({ x: 1 }, true)).toEqual(new Point({ x: 1 }))
  })

  it("still validates an untrusted construction", () => {
    expect(() => new Move({ to: new Point({ x: 1 }), steps: [1.5] })).toThrow(/Int/)
    expect(() => new Move({ to: new Point({ x: 1 }), steps: [1.5] }, { disableValidation: false })).toThrow(/Int/)
    expect(() => new Point({ x: "1" as never })).toThrow(/number/)
  })

  it("decodes to instances of the class, and rejects what the schema rejects", () => {
    const decode = Schema.decodeUnknownEither(Move)
    const decoded = decode({ _tag: "Move", to: { x: 3, y: 4 }, steps: [] })
    expect(Either.isRight(decoded)).toBe(true)
    const move = Either.getOrThrow(decoded)
    expect(move).toBeInstanceOf(Move)
    expect(move.to).toBeInstanceOf(Point)
    expect(move).toStrictEqual(new Move({ to: new Point({ x: 3, y: 4 }), steps: [] }))
    expect(Either.isLeft(decode({ _tag: "Move", to: { x: "3" }, steps: [] }))).toBe(true)
  })

  it("refuses a class with a constructor default, which a trusted build would leave out", () => {
    const Defaulted = Schema.Class<{ n: number }>("Defaulted")({
      n: Schema.Number.pipe(Schema.propertySignature, Schema.withConstructorDefault(() => 1))
    })
    expect(() => Message.trusted(Defaulted)).toThrow(/constructor default/)
  })
})
