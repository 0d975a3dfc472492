/** Writes `vectors/` from scripts/vector-cases.ts: `pnpm --filter @flotilla/protocol gen:vectors`. */
import { join } from "node:path";
import { buildVectorFiles } from "./vectors.js";
import { packageRoot, writeTree } from "./write-tree.js";

const files = buildVectorFiles();
writeTree(join(packageRoot, "vectors"), files);
console.log(`wrote ${files.size} files to vectors/`);
