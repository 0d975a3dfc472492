/** Writes `schemas/` from the zod schemas: `pnpm --filter @flotilla/protocol gen:schemas`. */
import { join } from "node:path";
import { buildJsonSchemaFiles } from "./json-schemas.js";
import { packageRoot, writeTree } from "./write-tree.js";

const files = buildJsonSchemaFiles();
writeTree(join(packageRoot, "schemas"), files);
console.log(`wrote ${files.size} files to schemas/`);
