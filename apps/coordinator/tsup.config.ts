import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: false,
    target: "node20",
    // The Lua scripts are read at run time from next to the bundle.
    onSuccess: "rm -rf dist/lua && cp -r src/lua dist/lua",
  },
  {
    // The binary: its own entry so only it gets the shebang.
    entry: ["src/main.ts"],
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
]);
