import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildJsonSchemaFiles } from "../scripts/json-schemas.js";
import { packageRoot, readTree } from "../scripts/write-tree.js";

describe("JSON Schemas", () => {
  it("are up to date with the zod schemas (run `pnpm gen:schemas`)", () => {
    const committed = readTree(join(packageRoot, "schemas"));
    expect(new Map([...committed].sort())).toEqual(new Map([...buildJsonSchemaFiles()].sort()));
  });
});
