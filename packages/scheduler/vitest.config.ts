import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

// Everything here is pure (no globals, no I/O), so test files can share one module graph: on a busy
// 2-core machine re-importing fast-check and the sources per file cost far more than the tests themselves.
export default mergeConfig(sharedConfig, { test: { isolate: false } });
