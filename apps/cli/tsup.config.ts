import { defineConfig } from "tsup";
import { bundleConfig } from "../../tsup.bundle.js";

export default defineConfig([
  {
    entry: ["src/index.ts", "src/main.ts"],
    format: ["esm"],
    dts: { entry: "src/index.ts" },
    sourcemap: true,
    clean: true,
    target: "node20",
    // The bin runs directly: `flotilla` on PATH is dist/main.js.
    banner: { js: "#!/usr/bin/env node" },
  },
  bundleConfig("flotilla", "src/main.ts"),
]);
