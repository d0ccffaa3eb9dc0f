import { defineConfig } from "vitest/config"

// One vitest run over every package. `fiberlog-source` makes `@fiberlog/*` imports resolve to
// the TypeScript sources, so tests never need a build first.
export default defineConfig({
  resolve: { conditions: ["fiberlog-source"] },
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
