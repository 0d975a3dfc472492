import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildJsonSchemaFiles } from "../scripts/json-schemas.js";
import { hasCurrentTables } from "../scripts/readme-tables.js";
import { packageRoot, readTree } from "../scripts/write-tree.js";

describe("JSON Schemas", () => {
  it("are up to date with the zod schemas (run `pnpm gen:schemas`)", () => {
    const committed = readTree(join(packageRoot, "schemas"));
    expect(new Map([...committed].sort())).toEqual(new Map([...buildJsonSchemaFiles()].sort()));
  });
});

describe("README", () => {
  it("has current message and error tables (run `pnpm gen:readme`)", () => {
    const readme = readFileSync(join(packageRoot, "README.md"), "utf8");
    expect(hasCurrentTables(readme)).toBe(true);
  });
});
