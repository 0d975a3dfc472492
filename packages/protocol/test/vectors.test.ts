import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildVectorFiles, type VectorFile, vectorFrame } from "../scripts/vectors.js";
import { packageRoot, readTree } from "../scripts/write-tree.js";
import { decode } from "../src/codec.js";

const committed = readTree(join(packageRoot, "vectors"));
const vectors = [...committed].map(([path, text]) => ({ path, vector: JSON.parse(text) as VectorFile }));

describe("test vectors", () => {
  it("are up to date with scripts/vector-cases.ts (run `pnpm gen:vectors`)", () => {
    expect(new Map([...committed].sort())).toEqual(new Map([...buildVectorFiles()].sort()));
  });

  it.each(vectors)("$path decodes as stated", ({ vector }) => {
    const result = decode(
      vectorFrame(vector),
      vector.maxBytes === undefined ? {} : { maxBytes: vector.maxBytes },
    );
    if (vector.valid) {
      expect(result).toEqual({ ok: true, message: vector.decoded });
    } else {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect({ code: result.error.code, path: result.error.details.path }).toEqual({
        code: vector.code,
        path: vector.path,
      });
    }
  });
});
