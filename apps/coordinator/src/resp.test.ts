import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeCommand, type RespArgument } from "./resp.js";

/** RESP the plain way, to hold the encoder to. */
function reference(name: string, args: readonly RespArgument[]): Buffer {
  const parts = [`*${args.length + 1}\r\n`];
  for (const arg of [name, ...args].map(String)) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(""), "utf8");
}

describe("encodeCommand", () => {
  it("writes what RESP says, for ASCII, UTF-8, empty and long arguments", () => {
    const args = [
      "",
      "1",
      "task:{t-1}",
      "ä",
      "日本語",
      "🚢 fleet",
      "x".repeat(47),
      "y".repeat(48),
      "z".repeat(49),
    ];
    args.push("a".repeat(10_000), `${"b".repeat(60)}é`, '{"taskId":"t-1","state":"queued"}');
    expect(encodeCommand("evalsha", [args]).toString("latin1")).toBe(
      reference("evalsha", args).toString("latin1"),
    );
  });

  it("writes numbers as decimal text, whole or not, and joins the lists it is given", () => {
    const numbers = [0, 7, 10, 1_796_134_651_811, -1, 2.5, 1e21, Number.MAX_SAFE_INTEGER];
    expect(
      encodeCommand("eval", [["k1", "k2"], numbers, [], ["a"]]).equals(
        reference("eval", ["k1", "k2", ...numbers, "a"]),
      ),
    ).toBe(true);
  });

  it("gets the counts right across digit boundaries, and for more arguments than it has room for", () => {
    for (const count of [0, 1, 9, 10, 99, 100, 1_000, 5_000]) {
      const args = Array.from({ length: count }, (_, i) => "v".repeat(i % 120));
      expect(encodeCommand("eval", [args]).equals(reference("eval", args))).toBe(true);
    }
  });

  it("gives a non-ASCII argument its byte length when that has more digits, across a growing buffer", () => {
    // 9 characters in 18 bytes, 50 in 100, 4 in 12, 999 in 1,998: the header grows by a digit each time.
    const args = ["é".repeat(9), "é".repeat(50), "日".repeat(4), "ß".repeat(999), "x".repeat(100_000)];
    args.push("🚢".repeat(3), "z".repeat(70_000), "ü");
    const first = encodeCommand("eval", [args]);
    const copy = Buffer.from(first);
    expect(first.equals(reference("eval", args))).toBe(true);
    // Each command is its own copy: the next one, written where the first was, leaves it as it was.
    expect(encodeCommand("eval", [["other"]]).equals(reference("eval", ["other"]))).toBe(true);
    expect(first.equals(copy)).toBe(true);
  });

  it("writes a command past a megabyte, and the ones after it, once its buffer is let go", () => {
    const big = ["k", "é".repeat(700_000), 12];
    expect(encodeCommand("eval", [big]).equals(reference("eval", big))).toBe(true);
    const after = ["task:{t-1}", 1_796_134_651_811, "ü"];
    expect(encodeCommand("eval", [after]).equals(reference("eval", after))).toBe(true);
  });

  it("matches the plain encoding for any strings and numbers", () => {
    const argument = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 80 }),
      fc.integer(),
      fc.double({ noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(argument, { maxLength: 20 }), { maxLength: 4 }), (lists) =>
        encodeCommand("evalsha", lists).equals(reference("evalsha", lists.flat())),
      ),
      { numRuns: 500 },
    );
  });
});
