import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/main.ts"],
  format: ["esm"],
  dts: { entry: "src/index.ts" },
  sourcemap: true,
  clean: true,
  target: "node20",
  // The bin runs directly: `flotilla` on PATH is dist/main.js.
  banner: { js: "#!/usr/bin/env node" },
});
