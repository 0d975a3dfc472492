/** Turns {@link VECTOR_CASES} into the files of `vectors/`, one JSON file per vector. */
import { decode } from "../src/codec.js";
import { VECTOR_CASES, type VectorCase } from "./vector-cases.js";

/** A vector as written to disk: the case plus, for valid frames, what decoding yields (defaults applied). */
export interface VectorFile extends VectorCase {
  decoded?: unknown;
}

/** The frame a vector sends: strings as they are, anything else JSON-encoded. */
export function vectorFrame(vector: Pick<VectorCase, "raw">): string {
  return typeof vector.raw === "string" ? vector.raw : JSON.stringify(vector.raw);
}

/** Every vector file by its path below `vectors/`. Throws when a case does not decode as it claims. */
export function buildVectorFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const vector of VECTOR_CASES) {
    const path = `${vector.type}/${vector.name}.json`;
    if (files.has(path)) throw new Error(`two vectors named ${path}`);
    const result = decode(
      vectorFrame(vector),
      vector.maxBytes === undefined ? {} : { maxBytes: vector.maxBytes },
    );
    if (result.ok !== vector.valid) {
      throw new Error(
        `${path}: expected ${vector.valid ? "valid" : "invalid"}, decode said ${JSON.stringify(result)}`,
      );
    }
    const file: VectorFile = result.ok ? { ...vector, decoded: result.message } : vector;
    files.set(path, `${JSON.stringify(file, null, 2)}\n`);
  }
  return files;
}
