import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (pkg: string, entry = "index") => fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url))

// One vitest run over every package. `@fiberlog/*` imports resolve to the TypeScript sources
// (aliases, so no test ever runs against a stale build and every package shares one copy of core).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@fiberlog\/core$/, replacement: src("core") },
      { find: /^@fiberlog\/node$/, replacement: src("node") },
      { find: /^@fiberlog\/testkit$/, replacement: src("testkit") },
      { find: /^@fiberlog\/testkit\/vitest$/, replacement: src("testkit", "vitest") }
    ]
  },
  test: {
    projects: [
      { extends: true, test: { name: "core", include: ["packages/core/test/**/*.test.ts"] } },
      { extends: true, test: { name: "node", include: ["packages/node/test/**/*.test.ts"] } },
      { extends: true, test: { name: "testkit", include: ["packages/testkit/test/**/*.test.ts"] } },
      { extends: true, test: { name: "examples", include: ["examples/**/*.test.ts"] } }
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
