import { mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

export default mergeConfig(sharedConfig, {
  // The native spawn helper is rebuilt first when it is not of the current source.
  test: { globalSetup: ["./test/build-native.setup.ts"] },
});
