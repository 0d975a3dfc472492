import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

export default mergeConfig(sharedConfig, {
  // The native spawn helper is rebuilt first when its source is newer than the build.
  test: { globalSetup: ["./test/build-native.setup.ts"] },
});
