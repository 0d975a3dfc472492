import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

/**
 * Builds the dashboard into `dist/`, which the coordinator's build copies beside its bundle and serves at
 * `/`. Workspace packages are read from their sources (`source` condition), so no earlier build is needed.
 * `@flotilla/protocol` reads files with Node.js in one helper the page never calls: that import is
 * replaced by a stub that says so.
 */
export default defineConfig({
  plugins: [preact()],
  base: "/",
  resolve: {
    conditions: ["source", "browser", "import", "module", "default"],
    alias: { "node:fs/promises": new URL("./src/shims/no-fs.ts", import.meta.url).pathname },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, target: "es2022", chunkSizeWarningLimit: 700 },
});
