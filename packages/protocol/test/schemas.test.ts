import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildJsonSchemaFiles } from "../scripts/json-schemas.js";
import { hasCurrentTables } from "../scripts/readme-tables.js";
import type { VectorFile } from "../scripts/vectors.js";
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

describe("JSON Schemas and the codec", () => {
  // The files are read back with zod's own JSON Schema reader: not an independent validator, but it checks
  // the files themselves (constraints, the hand-written argv/shell oneOf) rather than the zod source.
  const files = readTree(join(packageRoot, "schemas"));
  const load = (path: string) => z.fromJSONSchema(JSON.parse(files.get(path) ?? "null"));
  const anyMessage = load("message.json");
  const vectors = [...readTree(join(packageRoot, "vectors"))]
    .map(([path, text]) => ({ path, vector: JSON.parse(text) as VectorFile }))
    // Size and JSON syntax are the codec's business; a JSON Schema sees only parsed values.
    .filter(({ vector }) => typeof vector.raw !== "string" && vector.code !== "E_TOO_LARGE");

  it.each(vectors)("agree on $path", ({ vector }) => {
    const value = JSON.parse(JSON.stringify(vector.raw));
    expect(anyMessage.safeParse(value).success).toBe(vector.valid);
    if (vector.type !== "frame") {
      expect(load(`messages/${vector.type}.json`).safeParse(value).success).toBe(vector.valid);
    }
  });
});
