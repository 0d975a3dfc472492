/** Rewrites the generated tables in README.md: `pnpm --filter @flotilla/protocol gen:readme`. */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withGeneratedTables } from "./readme-tables.js";
import { packageRoot } from "./write-tree.js";

const path = join(packageRoot, "README.md");
writeFileSync(path, withGeneratedTables(readFileSync(path, "utf8")));
// Let the repository's formatter align the tables, as `biome check` expects them.
execFileSync(join(packageRoot, "..", "..", "node_modules", ".bin", "biome"), ["format", "--write", path], {
  stdio: "inherit",
});
console.log("updated the tables in README.md");
