import { fc, test } from "@fast-check/vitest";
import { describe, expect, it, vi } from "vitest";
import { OutputBatcher, type OutputChunk, REDACTED, StreamRedactor, secretValues } from "./output.js";

describe("secretValues", () => {
  it("picks values of secret-looking names, longest first, skipping short ones", () => {
    const values = secretValues(
      { GITHUB_TOKEN: "ghp_abcdef", DB_PASSWORD: "hunter22", HOME: "/root", SHORT_KEY: "1" },
      { AWS_SECRET: "aws-very-long-secret", API_KEY: undefined },
    );
    expect(values).toEqual(["aws-very-long-secret", "ghp_abcdef", "hunter22"]);
  });
});

describe("StreamRedactor", () => {
  it("masks a value split at every possible point", () => {
    const secret = "topsecret!";
    const text = `x ${secret} y ${secret}`;
    for (let cut = 0; cut <= text.length; cut++) {
      const redactor = new StreamRedactor([secret]);
      const out = redactor.write(text.slice(0, cut)) + redactor.write(text.slice(cut)) + redactor.end();
      expect(out).toBe(`x ${REDACTED} y ${REDACTED}`);
    }
  });

  test.prop([
    fc.array(fc.string({ maxLength: 12 }), { maxLength: 8 }),
    fc.array(fc.nat(40), { maxLength: 6 }),
  ])("never lets a secret through and keeps everything else", (parts, cuts) => {
    const secret = "SeCrEt42";
    const text = parts.join(secret);
    const sorted = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
    const redactor = new StreamRedactor([secret]);
    let out = "";
    let from = 0;
    for (const cut of [...sorted, text.length]) {
      out += redactor.write(text.slice(from, cut));
      from = cut;
    }
    out += redactor.end();
    expect(out).toBe(text.split(secret).join(REDACTED));
  });
});

describe("OutputBatcher", () => {
  it("batches within the window, splits big chunks and keeps one seq", () => {
    vi.useFakeTimers();
    try {
      const chunks: OutputChunk[] = [];
      const batcher = new OutputBatcher({ onChunk: (c) => chunks.push(c), windowMs: 50, maxChunkChars: 4 });
      batcher.push("stdout", "ab");
      batcher.push("stdout", "c");
      expect(chunks).toEqual([]);
      vi.advanceTimersByTime(50);
      expect(chunks).toEqual([{ stream: "stdout", seq: 0, data: "abc" }]);
      batcher.push("stdout", "123456789");
      batcher.push("stderr", "e");
      batcher.flush();
      expect(chunks.slice(1)).toEqual([
        { stream: "stdout", seq: 1, data: "1234" },
        { stream: "stdout", seq: 2, data: "5678" },
        { stream: "stdout", seq: 3, data: "9" },
        { stream: "stderr", seq: 4, data: "e" },
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});
