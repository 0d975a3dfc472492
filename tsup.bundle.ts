import type { Options } from "tsup";

/**
 * A bin as one file that runs with a plain `node` and no node_modules (`dist/<name>.mjs`): every
 * dependency bundled, workspace packages from their sources, a `require` for the CommonJS ones. ws's
 * optional native add-ons stay out (ws works without them).
 */
export function bundleConfig(name: string, entry: string, extra: Partial<Options> = {}): Options {
  return {
    entry: { [name]: entry },
    format: ["esm"],
    outExtension: () => ({ js: ".mjs" }),
    platform: "node",
    target: "node20",
    splitting: false,
    sourcemap: false,
    clean: false,
    noExternal: [/.*/],
    external: ["bufferutil", "utf-8-validate"],
    esbuildOptions(options) {
      options.conditions = ["source", "import", "node", "default"];
    },
    banner: {
      js: '#!/usr/bin/env node\nimport { createRequire as __flotillaRequire } from "node:module";\nconst require = __flotillaRequire(import.meta.url);',
    },
    ...extra,
  };
}
