import { defineConfig } from "tsup";
import { bundleConfig } from "../../tsup.bundle.js";

export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
  },
  {
    // The binary: its own entry so only it gets the shebang.
    entry: ["src/main.ts"],
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    banner: { js: "#!/usr/bin/env node" },
  },
  {
    // The spawner's programs, each a file of its own that a child process or worker thread runs
    // (src/spawn/programs.ts finds them in dist/spawn/).
    entry: {
      "spawn/helper-process": "src/spawn/helper-process.ts",
      "spawn/worker-thread": "src/spawn/worker-thread.ts",
    },
    // Each program stands alone: no chunk shared between them.
    splitting: false,
    format: ["esm"],
    sourcemap: true,
    target: "node20",
  },
  // The agent as one file: without its spawn programs beside it, it starts commands itself (see cli.ts).
  bundleConfig("flotilla-agent", "src/main.ts"),
]);
