import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

export default mergeConfig(sharedConfig, {
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // One fleet and one browser per file, its steps in order: files run one at a time on a busy machine.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 120_000,
  },
});
