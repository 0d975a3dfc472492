import { type LocalFleet, startLocalFleet } from "@flotilla/launcher";
import { agentBin, coordinatorBin } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flotilla } from "./cli-process.js";

describe("the flotilla command against a real fleet (separate processes)", () => {
  let fleet: LocalFleet;

  beforeAll(async () => {
    fleet = await startLocalFleet({
      coordinatorBin: coordinatorBin(),
      agentBin: agentBin(),
      agents: [
        { id: "box-a", slots: 2, labels: { heavy: "true" } },
        { id: "box-b", slots: 2, labels: { light: "true" } },
      ],
      coordinatorArgs: ["--log-level", "warn", "--load-threshold", "1000"],
    });
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it("runs a command: output in order on the right streams, remote exit code kept", async () => {
    const run = await flotilla(fleet, [
      "run",
      "--",
      "sh",
      "-c",
      "for i in 1 2 3; do echo out $i; echo err $i >&2; done; exit 7",
    ]);
    expect(run.stdout).toBe("out 1\nout 2\nout 3\n");
    expect(run.stderr).toContain("err 1\nerr 2\nerr 3\n");
    expect(run.code).toBe(7);
  }, 60_000);

  it("submits a JSON-lines file from stdin: bad lines reported by number, good ones run; all or nothing", async () => {
    const lines = [
      '{"kind":"exec","argv":["echo","first"]}',
      "# a comment, skipped",
      '{"kind":"exec","argv":[]}',
      "not json",
      '{"kind":"exec","argv":["echo","fifth"],"needs":{"light":true}}',
    ].join("\n");
    const some = await flotilla(fleet, ["submit", "--json", "--file", "-"], lines);
    expect(some.code).toBe(1);
    expect(some.stderr).toMatch(/line 3: E_SCHEMA: .*argv/);
    expect(some.stderr).toMatch(/line 4: not JSON/);
    const accepted = some.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { line: number; taskId: string });
    expect(accepted.map((entry) => entry.line)).toEqual([1, 5]);
    for (const { taskId } of accepted) {
      const logs = await flotilla(fleet, ["logs", "-f", taskId]);
      expect(logs.stdout).toMatch(/^(first|fifth)\n$/);
    }
    const none = await flotilla(fleet, ["submit", "--file", "-", "--all-or-nothing"], lines);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toMatch(/no task was submitted/);
  }, 60_000);

  // The next two run the command six times or more, each a process that compiles it on the way: about 20 s,
  // and twice that while the other suites keep both cores busy.
  it("submits, then shows status, ps, logs, nodes, and works the dead-letter queue", async () => {
    const submitted = await flotilla(fleet, ["submit", "--json", "--needs", "heavy", "--", "echo", "built"]);
    expect(submitted.code).toBe(0);
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    const logs = await flotilla(fleet, ["logs", "-f", taskId]);
    expect(logs.stdout).toBe("built\n");
    const status = await flotilla(fleet, ["status", "--json", taskId]);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: taskId, state: "succeeded", node: "box-a" });
    const ps = await flotilla(fleet, ["ps", "--json", "--node", "box-a"]);
    expect((JSON.parse(ps.stdout) as { id: string }[]).map((task) => task.id)).toContain(taskId);
    const nodes = await flotilla(fleet, ["nodes", "--json"]);
    expect((JSON.parse(nodes.stdout) as { id: string }[]).map((node) => node.id).sort()).toEqual([
      "box-a",
      "box-b",
    ]);
    const dlq = await flotilla(fleet, ["dlq", "ls", "--json"]);
    expect(dlq.code).toBe(0);
    expect(JSON.parse(dlq.stdout)).toEqual([]);
  }, 120_000);

  it("drains and undrains a node, cancels a task, broadcasts", async () => {
    expect((await flotilla(fleet, ["drain", "box-b"])).code).toBe(0);
    const nodes = JSON.parse((await flotilla(fleet, ["nodes", "--json"])).stdout) as {
      id: string;
      draining: boolean;
    }[];
    expect(nodes.find((node) => node.id === "box-b")?.draining).toBe(true);
    expect((await flotilla(fleet, ["undrain", "box-b"])).code).toBe(0);
    const submitted = await flotilla(fleet, ["submit", "--json", "--", "sleep", "30"]);
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    expect((await flotilla(fleet, ["cancel", taskId])).code).toBe(0);
    // A running task is cancelled once its node has stopped it and reported back: `cancel` only asks.
    const state = async () =>
      (JSON.parse((await flotilla(fleet, ["status", "--json", taskId])).stdout) as { state: string }).state;
    const deadline = Date.now() + 10_000;
    let seen = await state();
    while (seen !== "cancelled" && Date.now() < deadline) seen = await state();
    expect(seen).toBe("cancelled");
    expect((await flotilla(fleet, ["broadcast", "hello fleet"])).code).toBe(0);
  }, 120_000);

  it("says what went wrong without a stack trace", async () => {
    const missing = await flotilla(fleet, ["status", "t-does-not-exist"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).not.toMatch(/\bat .*\.ts:\d+/);
    const wrongToken = await flotilla(fleet, ["--token", "wrong", "nodes"]);
    expect(wrongToken.code).toBe(5);
  }, 30_000);
});
