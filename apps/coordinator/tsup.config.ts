import { readdirSync, readFileSync } from "node:fs";
import { defineConfig } from "tsup";
import { bundleConfig } from "../../tsup.bundle.js";

/** The Lua scripts, by name, for the one-file bundle (scripts.ts reads them from disk otherwise). */
const lua = Object.fromEntries(
  readdirSync("src/lua")
    .filter((file) => file.endsWith(".lua"))
    .map((file) => [file.slice(0, -4), readFileSync(`src/lua/${file}`, "utf8")]),
);

export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: false,
    target: "node20",
    // The Lua scripts are read at run time from next to the bundle, and the built dashboard is served
    // from there (turbo builds @flotilla/dashboard first: it is a dependency; without it, none is served).
    onSuccess:
      "rm -rf dist/lua dist/dashboard && cp -r src/lua dist/lua && if [ -f ../dashboard/dist/index.html ]; then cp -r ../dashboard/dist dist/dashboard; fi",
  },
  {
    // The binary: its own entry so only it gets the shebang.
    entry: ["src/main.ts"],
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    // A young generation of up to 32 MB (V8's default is 16): with a thousand tasks in flight, about
    // 3.6 MB of it is still alive at each scavenge, so each costs ~8 ms and they took a fifth of the
    // coordinator's CPU; with 32 MB there are half as many (measured: 845 -> 383 ms of pauses for 24,000
    // calls). `nodeBin` in @flotilla/launcher reads these flags from here too.
    banner: { js: "#!/usr/bin/env -S node --max-semi-space-size=32" },
  },
  bundleConfig("flotilla-coordinator", "src/main.ts", { define: { __FLOTILLA_LUA__: JSON.stringify(lua) } }),
]);
