import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RotatingFile } from "./rotating-file.js";

describe("RotatingFile", () => {
  it("keeps every file under the size and at most `keep` old ones", () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-log-"));
    const path = join(dir, "agent.log");
    const file = new RotatingFile(path, { maxBytes: 100, keep: 2 });
    for (let i = 0; i < 50; i++) file.write(`line ${String(i).padStart(3, "0")} ${"x".repeat(20)}\n`);
    file.end();
    expect(readdirSync(dir).sort()).toEqual(["agent.log", "agent.log.1", "agent.log.2"]);
    for (const name of readdirSync(dir)) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(100);
    expect(readFileSync(path, "utf8")).toContain("line 049");
    expect(readFileSync(`${path}.1`, "utf8")).not.toContain("line 049");
    expect(existsSync(`${path}.3`)).toBe(false);
  });

  it("appends to an existing file and counts its size", () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-log-"));
    const path = join(dir, "c.log");
    const first = new RotatingFile(path, { maxBytes: 10, keep: 1 });
    first.write("12345678\n");
    first.end();
    const second = new RotatingFile(path, { maxBytes: 10, keep: 1 });
    second.write("abc\n");
    second.end();
    expect(readFileSync(`${path}.1`, "utf8")).toBe("12345678\n");
    expect(readFileSync(path, "utf8")).toBe("abc\n");
  });
});
