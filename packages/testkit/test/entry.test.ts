import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const src = fileURLToPath(new URL("../src/", import.meta.url))

/** Every module reachable from `entry` through relative imports, with the bare specifiers each imports. */
const graph = (entry: string): Map<string, Array<string>> => {
  const seen = new Map<string, Array<string>>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    const text = fs.readFileSync(file, "utf8")
    const specifiers = [...text.matchAll(/^(?:import|export)\s[^"']*["']([^"']+)["']/gm)].map((m) => m[1]!)
    seen.set(file, specifiers.filter((s) => !s.startsWith(".")))
    for (const s of specifiers) {
      if (s.startsWith(".")) visit(path.resolve(path.dirname(file), s.replace(/\.js$/, ".ts")))
    }
  }
  visit(entry)
  return seen
}

describe("entry points", () => {
  it("@fiberlog/testkit loads outside vitest: nothing it reaches imports vitest", () => {
    const reached = graph(path.join(src, "index.ts"))
    expect(reached.size).toBeGreaterThan(5)
    const offenders = [...reached].filter(([, bare]) => bare.some((s) => s === "vitest" || s.startsWith("@effect/vitest")))
    expect(offenders.map(([file]) => path.relative(src, file))).toEqual([])
  })

  it("@fiberlog/testkit/vitest holds the vitest suites", () => {
    const reached = graph(path.join(src, "vitest.ts"))
    expect([...reached.values()].some((bare) => bare.includes("@effect/vitest"))).toBe(true)
  })
})
