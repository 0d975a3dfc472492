import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { agent, coordinator, setCoordinator, useAgentSession, waitUntil } from "../test/agent-session.js";
import { TestCoordinator } from "../test/test-coordinator.js";

useAgentSession();

describe("the lease a run knows of", () => {
  it("gives an exec run FLOTILLA_TASK_ID, FLOTILLA_ATTEMPT and FLOTILLA_EPOCH, over the task's env", async () => {
    await agent().start();
    coordinator.send("task.assign", {
      taskId: "lease-env",
      epoch: 7,
      attempt: 3,
      spec: {
        kind: "exec",
        shell: 'echo "$FLOTILLA_TASK_ID $FLOTILLA_ATTEMPT $FLOTILLA_EPOCH"',
        env: { FLOTILLA_EPOCH: "999" },
      },
    });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === "lease-env");
    expect(finish.outcome).toBe("succeeded");
    const output = coordinator.all("task.output").filter((m) => m.taskId === "lease-env");
    expect(output.map((m) => m.data).join("")).toBe("lease-env 3 7\n");
  });

  it("gives a call handler the lease's epoch in its context", async () => {
    await agent({
      handlers: { lease: async (_payload, ctx) => [ctx.taskId, ctx.attempt, ctx.epoch] },
    }).start();
    coordinator.send("task.assign", {
      taskId: "lease-call",
      epoch: 5,
      attempt: 2,
      spec: { kind: "call", handler: "lease", payload: null },
    });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === "lease-call");
    expect(finish.result).toEqual(["lease-call", 2, 5]);
  });
});

/** Welcomes with a lease of `deadAfterMs` (the test coordinator's default is 1 s). */
function leaseOf(deadAfterMs: number, heartbeatIntervalMs = 50): void {
  coordinator.welcome = (hello) => ({
    nodeId: hello.node.id,
    heartbeatIntervalMs,
    deadAfterMs,
    keep: hello.running,
    kill: [],
  });
}

/** An exec run that writes its pid to a file and sleeps; resolves with the pid once it runs. */
async function sleeper(taskId: string): Promise<number> {
  const pidFile = join(await mkdtemp(join(tmpdir(), "flotilla-lease-")), "pid");
  coordinator.send("task.assign", {
    taskId,
    epoch: 1,
    attempt: 1,
    spec: { kind: "exec", shell: `echo $$ > '${pidFile}'; exec sleep 30` },
  });
  let pid: number | undefined;
  await waitUntil(() => {
    pid = Number(readFileSyncOrEmpty(pidFile)) || undefined;
    return pid !== undefined;
  });
  return pid as number;
}

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("cut off from the coordinator", () => {
  it("kills its runs once the coordinator has been silent longer than the lease, and reports nothing", async () => {
    leaseOf(400);
    const a = agent();
    await a.start();
    const pid = await sleeper("partitioned");
    const count = coordinator.received.length;
    const cutAt = Date.now();
    // The coordinator stops reading: no pong, no frame reaches the agent, as in a partition.
    coordinator.pauseReading(60_000);
    await waitUntil(() => !alive(pid), 5_000);
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(400);
    expect(a.slotsUsed).toBe(0);
    // A new session reports no run, and nothing more comes about the killed one.
    const hello = await coordinator.waitFor("agent.hello", () => coordinator.all("agent.hello").length === 2);
    expect(hello.running).toEqual([]);
    const about = coordinator.received
      .slice(count)
      .filter((m) => "taskId" in m && m.taskId === "partitioned");
    expect(about).toEqual([]);
  });

  it("kills its runs when the coordinator stays away longer than the lease", async () => {
    leaseOf(400);
    const a = agent({ reconnectBaseMs: 20, reconnectCapMs: 50 });
    await a.start();
    const pid = await sleeper("orphaned");
    const port = Number(new URL(coordinator.url).port);
    await coordinator.close();
    await waitUntil(() => !alive(pid), 5_000);
    setCoordinator(await TestCoordinator.startOn(port));
    const hello = await coordinator.waitFor("agent.hello");
    expect(hello.running).toEqual([]);
  });

  it("keeps its runs across a disconnect shorter than the lease", async () => {
    leaseOf(600);
    const a = agent({ reconnectBaseMs: 20, reconnectCapMs: 50 });
    await a.start();
    const pid = await sleeper("kept");
    coordinator.dropConnection();
    await coordinator.waitFor("agent.hello", () => coordinator.all("agent.hello").length === 2);
    // Heartbeats for well over a lease after the reconnect still list the run.
    const beats = coordinator.all("heartbeat").length;
    await coordinator.waitFor("heartbeat", () => coordinator.all("heartbeat").length >= beats + 30);
    expect(coordinator.all("heartbeat").at(-1)?.running).toEqual([{ taskId: "kept", epoch: 1 }]);
    expect(alive(pid)).toBe(true);
    expect(a.slotsUsed).toBe(1);
  });

  it("keeps a quiet but live link when heartbeats are rarer than the lease", async () => {
    leaseOf(600, 10_000);
    await agent().start();
    coordinator.send("task.assign", {
      taskId: "quiet",
      epoch: 1,
      attempt: 1,
      spec: { kind: "exec", shell: "sleep 1.5; echo ok" },
    });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === "quiet");
    expect(finish.outcome).toBe("succeeded");
    expect(coordinator.all("agent.hello")).toHaveLength(1);
  });

  it("kills its runs after a freeze longer than the lease, though frames wait to be read on resume", async () => {
    leaseOf(300);
    const a = agent();
    await a.start();
    const pid = await sleeper("frozen");
    // Holds this process's event loop, the agent's included, as a SIGSTOP would; the coordinator's own
    // frames queue meanwhile and are read first on resume.
    coordinator.send("steal.grant", { tasks: [] });
    const until = Date.now() + 600;
    while (Date.now() < until) {
      // frozen
    }
    await waitUntil(() => !alive(pid), 5_000);
    expect(a.slotsUsed).toBe(0);
  });
});
