import { defineConfig } from "vitest/config";

/**
 * The one vitest setup every package extends. Workspace packages are resolved through their `source`
 * export condition, so tests run against `src/` with no build step.
 */
export const sharedConfig = defineConfig({
  resolve: { conditions: ["source", "import", "module", "node", "default"] },
  ssr: { resolve: { conditions: ["source", "import", "node", "default"], externalConditions: ["source"] } },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
