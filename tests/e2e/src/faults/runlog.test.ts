import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRunLog, recordedSleep } from "./runlog.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-runlog-"));

describe("recordedSleep", () => {
  it("records its run under the task id it is given, else its label", () => {
    const file = join(dir, "runs");
    const [command, ...args] = recordedSleep("t1-1", 5, file);
    execFileSync(command as string, args, { env: { ...process.env, FLOTILLA_TEST_NODE: "alpha" } });
    execFileSync(command as string, args, {
      env: { ...process.env, FLOTILLA_TASK_ID: "t-abc", FLOTILLA_EPOCH: "7", FLOTILLA_NODE: "bravo" },
    });
    const census = readRunLog(file, (key) => ({ "t1-1": "t-label", "t-abc": "t-abc" })[key]);
    const [byLabel] = census.runs.get("t-label") ?? [];
    expect(byLabel).toMatchObject({ epoch: "-", node: "alpha" });
    expect(byLabel && byLabel.end - byLabel.start).toBeGreaterThanOrEqual(0);
    expect(census.runs.get("t-abc")?.[0]).toMatchObject({ epoch: "7", node: "bravo" });
    expect(census.malformed).toBe(0);
  });
});

describe("readRunLog", () => {
  it("counts tasks run more than once and the runs of one task that overlapped", () => {
    const file = join(dir, "census");
    writeFileSync(
      file,
      [
        "a 1 alpha 100 200",
        "a 2 bravo 150 260", // overlaps the first run of a by 50 ms
        "b 1 alpha 100 200",
        "b 2 bravo 200 300", // starts as the first ends: a duplicate, no overlap
        "c 1 alpha 100 110",
        "other 1 alpha 100 200", // not a task of this check
        "garbage",
        "",
      ].join("\n"),
    );
    const census = readRunLog(file, (key) => (key === "other" ? undefined : key));
    expect(census.duplicates).toBe(2);
    expect(census.overlapping).toBe(1);
    expect(census.overlapMs).toBe(50);
    expect(census.malformed).toBe(1);
    expect(census.runs.has("other")).toBe(false);
  });

  it("reads a missing log as no runs", () => {
    expect(readRunLog(join(dir, "missing"), (key) => key).runs.size).toBe(0);
  });
});
