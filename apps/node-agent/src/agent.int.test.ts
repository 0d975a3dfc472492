import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlotillaError } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import {
  agent,
  assign,
  coordinator,
  fingerprint,
  gate,
  setCoordinator,
  sleep,
  useAgentSession,
  waitUntil,
} from "../test/agent-session.js";
import { TestCoordinator } from "../test/test-coordinator.js";

useAgentSession();

describe("agent session", () => {
  it("says hello, is welcomed and heartbeats at the welcome's interval", async () => {
    const a = agent({ labels: { gpu: "true", zone: "desk" }, handlers: { echo: async (p) => p } });
    await a.start();
    expect(a.connected).toBe(true);
    const hello = await coordinator.waitFor("agent.hello");
    expect(hello.from).toBe("node-a");
    expect(hello.node).toMatchObject({
      id: "node-a",
      slots: 2,
      labels: { gpu: "true", zone: "desk" },
      fingerprint,
    });
    expect(hello.node.capabilities).toEqual(["gpu", "light", "linux", "x64"]);
    expect(hello.handlers).toEqual(["echo"]);
    expect(hello.running).toEqual([]);
    await coordinator.waitFor("heartbeat", () => coordinator.all("heartbeat").length >= 3, 2_000);
    const beat = coordinator.all("heartbeat")[0];
    expect(beat).toMatchObject({ status: "ready", capabilities: hello.node.capabilities, running: [] });
    expect(beat?.load).toMatchObject({ slotsUsed: 0, slotsTotal: 2 });
  });

  it("accepts, streams output in seq order and finishes exactly once", async () => {
    await agent().start();
    const taskId = assign({ kind: "exec", shell: "echo one; echo two >&2; exit 4" });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    expect(finish).toMatchObject({ epoch: 1, outcome: "failed", exitCode: 4, signal: null });
    const accept = coordinator.all("task.accept");
    expect(accept.map((m) => m.taskId)).toEqual([taskId]);
    const output = coordinator.all("task.output").filter((m) => m.taskId === taskId);
    expect(output.map((m) => m.seq)).toEqual(output.map((_, i) => i));
    expect(output.map((m) => `${m.stream}:${m.data}`).join("")).toBe("stdout:one\nstderr:two\n");
    // accept comes before output, output before finish.
    const order = coordinator.received.filter((m) => "taskId" in m && m.taskId === taskId).map((m) => m.type);
    expect(order[0]).toBe("task.accept");
    expect(order.at(-1)).toBe("task.finish");
    await sleep(100);
    expect(coordinator.all("task.finish")).toHaveLength(1);
  });

  it("keeps its token out of task environments and masks it in output", async () => {
    process.env.FLOTILLA_TOKEN = coordinator.token;
    try {
      await agent().start();
    } finally {
      delete process.env.FLOTILLA_TOKEN;
    }
    const taskId = assign({ kind: "exec", shell: `echo "[$FLOTILLA_TOKEN] ${coordinator.token}"` });
    await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    expect(coordinator.all("task.output").map((m) => m.data)).toEqual(["[] ***\n"]);
  });

  it("queues run messages in order behind a full socket", async () => {
    // A coordinator that stops reading while 6.6 MB arrive: more than loopback's kernel buffers take, so
    // the agent's socket holds unsent bytes beyond the 64 KiB allowance and run messages queue.
    await agent({ maxSocketBufferBytes: 64 * 1024 }).start();
    coordinator.pauseReading(500);
    const taskId = assign({ kind: "exec", shell: "yes abcdefghij | head -n 600000" });
    await coordinator.waitFor("task.finish", (m) => m.taskId === taskId, 20_000);
    const output = coordinator.all("task.output");
    expect(output.map((m) => m.seq)).toEqual(output.map((_, i) => i));
    expect(output.map((m) => m.data).join("")).toBe("abcdefghij\n".repeat(600_000));
    const types = coordinator.received.filter((m) => "taskId" in m && m.taskId === taskId).map((m) => m.type);
    expect(types.at(-1)).toBe("task.finish");
  });

  it("never runs more than its slots and rejects the rest with E_QUEUE_FULL", async () => {
    const a = agent({ slots: 2, prefetch: 0 });
    await a.start();
    const ids = [1, 2, 3].map(() => assign({ kind: "exec", argv: ["sleep", "1"] }));
    const rejected = await coordinator.waitFor("task.reject");
    expect(rejected).toMatchObject({ taskId: ids[2], code: "E_QUEUE_FULL" });
    expect(a.slotsUsed).toBe(2);
    await coordinator.waitFor("heartbeat", (m) => m.status === "busy");
    await coordinator.waitFor("task.finish", (m) => m.taskId === ids[1]);
    await coordinator.waitFor("task.finish", (m) => m.taskId === ids[0]);
    expect(coordinator.all("task.accept").map((m) => m.taskId)).toEqual(ids.slice(0, 2));
  });

  it("holds assignments beyond its slots up to prefetch and starts each as a slot frees up", async () => {
    const a = agent({ slots: 1, prefetch: 1, maxHoldMs: 5_000 });
    await a.start();
    expect((await coordinator.waitFor("agent.hello")).prefetch).toBe(1);
    // The first run lasts until the test has seen the heartbeat that lists both.
    const firstDone = gate();
    const [first, second, third] = [firstDone.wait, "sleep 0.3", "sleep 0.3"].map((shell) =>
      assign({ kind: "exec", shell }),
    ) as [string, string, string];
    expect(await coordinator.waitFor("task.reject")).toMatchObject({ taskId: third, code: "E_QUEUE_FULL" });
    expect(a.slotsUsed).toBe(1);
    // The heartbeat lists the held lease with the running one: both are this node's.
    const beat = await coordinator.waitFor("heartbeat", (m) => (m.running ?? []).length === 2);
    expect(beat.running?.map((r) => r.taskId)).toEqual([first, second]);
    expect(beat.status).toBe("busy");
    // Ended only once it has been reported started: a run shorter than acceptDelayMs sends no accept.
    await coordinator.waitFor("task.accept", (m) => m.taskId === first);
    firstDone.open();
    await coordinator.waitFor("task.finish", (m) => m.taskId === second, 3_000);
    const order = coordinator.received
      .filter((m) => m.type === "task.accept" || m.type === "task.finish")
      .map((m) => `${m.type}:${"taskId" in m ? m.taskId : ""}`);
    expect(order).toEqual([
      `task.accept:${first}`,
      `task.finish:${first}`,
      `task.accept:${second}`,
      `task.finish:${second}`,
    ]);
  });

  it("sends no accept for a run shorter than acceptDelayMs, and a dated one for a longer run", async () => {
    // A second: `true` ends well within it also on a busy machine.
    const a = agent({ slots: 2, acceptDelayMs: 1_000 });
    await a.start();
    const quick = assign({ kind: "exec", argv: ["true"] });
    const slow = assign({ kind: "exec", argv: ["sleep", "1.5"] });
    await coordinator.waitFor("task.finish", (m) => m.taskId === quick);
    const accept = await coordinator.waitFor("task.accept", (m) => m.taskId === slow);
    expect(accept.runningForMs).toBeGreaterThanOrEqual(990);
    await coordinator.waitFor("task.finish", (m) => m.taskId === slow, 5_000);
    expect(coordinator.all("task.accept").map((m) => m.taskId)).toEqual([slow]);
    const order = coordinator.received.filter((m) => "taskId" in m && m.taskId === slow).map((m) => m.type);
    expect(order).toEqual(["task.accept", "task.finish"]);
  });

  it("sends the accept before the first output even within acceptDelayMs", async () => {
    const a = agent({ slots: 1, acceptDelayMs: 5_000 });
    await a.start();
    const id = assign({ kind: "exec", shell: "echo early; sleep 0.3" });
    await coordinator.waitFor("task.finish", (m) => m.taskId === id, 3_000);
    const order = coordinator.received.filter((m) => "taskId" in m && m.taskId === id).map((m) => m.type);
    expect(order).toEqual(["task.accept", "task.output", "task.finish"]);
  });

  it("hands a held assignment back once it has waited maxHoldMs for a slot", async () => {
    const a = agent({ slots: 1, prefetch: 1, maxHoldMs: 150 });
    await a.start();
    const running = assign({ kind: "exec", argv: ["sleep", "30"] });
    await coordinator.waitFor("task.accept", (m) => m.taskId === running);
    const heldAt = Date.now();
    const held = assign({ kind: "exec", shell: "echo must-not-run" });
    const back = await coordinator.waitFor("task.reject", (m) => m.taskId === held, 2_000);
    expect(Date.now() - heldAt).toBeGreaterThanOrEqual(140);
    expect(back).toMatchObject({ epoch: 1, code: "E_QUEUE_FULL" });
    expect(back.reason).toMatch(/held \d+ ms/);
    // A heartbeat sent after the hand-back arrives after it (one socket, in order); one dated past it
    // could still be from before, when its timer fired late.
    const beat = await coordinator.waitFor(
      "heartbeat",
      (m) => coordinator.received.indexOf(m) > coordinator.received.indexOf(back),
    );
    expect(beat.running?.map((r) => r.taskId)).toEqual([running]);
    coordinator.send("task.cancel", { taskId: running, epoch: 1 });
    await coordinator.waitFor("task.finish", (m) => m.taskId === running);
    expect(coordinator.all("task.output")).toEqual([]);
  });

  it("ends a held assignment on cancel without running it", async () => {
    // Held until the cancel comes, not handed back at the default maxHoldMs (100 ms) before it.
    const a = agent({ slots: 1, prefetch: 2, maxHoldMs: 5_000 });
    await a.start();
    const running = assign({ kind: "exec", argv: ["sleep", "30"] });
    const held = assign({ kind: "exec", shell: "echo must-not-run" });
    await coordinator.waitFor("task.accept", (m) => m.taskId === running);
    coordinator.send("task.cancel", { taskId: held, epoch: 1, reason: "changed my mind" });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === held);
    expect(finish).toMatchObject({ outcome: "cancelled", exitCode: null, signal: null, durationMs: 0 });
    expect(finish.error).toMatchObject({ code: "E_CANCELLED", message: "changed my mind" });
    expect(a.slotsUsed).toBe(1);
    coordinator.send("task.cancel", { taskId: running, epoch: 1 });
    await coordinator.waitFor("task.finish", (m) => m.taskId === running);
    await sleep(100);
    expect(coordinator.all("task.accept").map((m) => m.taskId)).toEqual([running]);
    expect(coordinator.all("task.output")).toEqual([]);
  });

  it("reports held assignments in its hello after a reconnect and drops those not kept", async () => {
    const a = agent({ slots: 1, prefetch: 2, maxHoldMs: 5_000, reconnectBaseMs: 20 });
    await a.start();
    // Still running at the reconnect, however long that takes: the other two are still held then.
    const runningDone = gate();
    const running = assign({ kind: "exec", shell: runningDone.wait });
    const kept = assign({ kind: "exec", shell: "echo kept" });
    const dropped = assign({ kind: "exec", shell: "echo dropped" });
    await coordinator.waitFor("task.accept", (m) => m.taskId === running);
    coordinator.welcome = (hello) => ({
      nodeId: hello.node.id,
      heartbeatIntervalMs: 50,
      deadAfterMs: 1_000,
      keep: hello.running.filter((r) => r.taskId !== dropped),
      kill: hello.running.filter((r) => r.taskId === dropped),
    });
    coordinator.dropConnection();
    await coordinator.waitFor("agent.hello", () => coordinator.all("agent.hello").length === 2);
    expect(coordinator.all("agent.hello")[1]?.running).toEqual([
      { taskId: running, epoch: 1 },
      { taskId: kept, epoch: 1 },
      { taskId: dropped, epoch: 1 },
    ]);
    runningDone.open();
    await coordinator.waitFor("task.finish", (m) => m.taskId === kept, 3_000);
    await sleep(200);
    expect(coordinator.all("task.finish").map((m) => m.taskId)).toEqual([running, kept]);
    expect(coordinator.all("task.output").map((m) => m.data)).toEqual(["kept\n"]);
  });

  it("hands held assignments back with E_DRAINING when it stops", async () => {
    // Held until the stop, not handed back at the default maxHoldMs (100 ms) before it; and the running
    // task ends only once the stop has begun, so its slot never frees up for the held one.
    const a = agent({ slots: 1, prefetch: 1, shutdownGraceMs: 2_000, maxHoldMs: 5_000 });
    await a.start();
    const runningDone = gate();
    const running = assign({ kind: "exec", shell: runningDone.wait });
    const held = assign({ kind: "exec", shell: "echo never" });
    await coordinator.waitFor("task.accept", (m) => m.taskId === running);
    const stopping = a.stop();
    runningDone.open();
    await stopping;
    expect(coordinator.all("task.reject")).toMatchObject([{ taskId: held, code: "E_DRAINING" }]);
    expect(coordinator.all("task.finish").map((m) => m.taskId)).toEqual([running]);
    expect(coordinator.all("task.accept").map((m) => m.taskId)).toEqual([running]);
  });

  it("runs call handlers and rejects unknown ones with E_HANDLER", async () => {
    await agent({
      handlers: {
        add: async (payload, ctx) => {
          ctx.log("adding");
          ctx.progress(50);
          const { a, b } = payload as { a: number; b: number };
          return a + b;
        },
      },
    }).start();
    const ok = assign({ kind: "call", handler: "add", payload: { a: 2, b: 3 } });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === ok);
    expect(finish).toMatchObject({ outcome: "succeeded", result: 5 });
    expect(await coordinator.waitFor("task.progress")).toMatchObject({ taskId: ok, percent: 50 });
    expect(coordinator.all("task.output")).toMatchObject([
      { taskId: ok, stream: "stdout", data: "adding\n" },
    ]);
    const missing = assign({ kind: "call", handler: "nope" });
    expect(await coordinator.waitFor("task.reject")).toMatchObject({ taskId: missing, code: "E_HANDLER" });
  });

  it("takes back the accept of a call that ends in the turn it was assigned in", async () => {
    await agent({
      handlers: {
        echo: async (payload) => payload,
        slow: async (payload) => {
          await sleep(50);
          return payload;
        },
      },
    }).start();
    const fast = assign({ kind: "call", handler: "echo", payload: { n: 1 } });
    expect(await coordinator.waitFor("task.finish", (m) => m.taskId === fast)).toMatchObject({
      outcome: "succeeded",
      result: { n: 1 },
    });
    const slow = assign({ kind: "call", handler: "slow", payload: { n: 2 } });
    expect(await coordinator.waitFor("task.finish", (m) => m.taskId === slow)).toMatchObject({
      outcome: "succeeded",
      result: { n: 2 },
    });
    const types = (taskId: string) =>
      coordinator.received.filter((m) => "taskId" in m && m.taskId === taskId).map((m) => m.type);
    // The finish left in the same write as the accept would have: the coordinator goes from leased to done.
    expect(types(fast)).toEqual(["task.finish"]);
    expect(types(slow)).toEqual(["task.accept", "task.finish"]);
  });

  it("fails a call whose result JSON cannot carry, and goes on working", async () => {
    await agent({ handlers: { big: async () => 1n, echo: async (payload) => payload } }).start();
    const bad = assign({ kind: "call", handler: "big" });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === bad);
    expect(finish).toMatchObject({ outcome: "failed", error: { code: "E_HANDLER" } });
    expect(finish).not.toHaveProperty("result");
    const good = assign({ kind: "call", handler: "echo", payload: "ok" });
    expect(await coordinator.waitFor("task.finish", (m) => m.taskId === good)).toMatchObject({
      result: "ok",
    });
  });

  it("gives every frame its own valid message id, also with the longest node id", async () => {
    // The test coordinator checks every frame against the schema (ids are 1..128 characters).
    await agent({ id: `n${"x".repeat(127)}`, handlers: { echo: async (payload) => payload } }).start();
    const taskId = assign({ kind: "call", handler: "echo", payload: 1 });
    await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    await coordinator.waitFor("heartbeat", () => coordinator.all("heartbeat").length >= 2);
    const ids = coordinator.received.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id?.length).toBeLessThanOrEqual(128);
  });

  it("reports spawn failures as a failed finish with E_SPAWN", async () => {
    await agent().start();
    const taskId = assign({ kind: "exec", argv: ["/no/such/binary"] });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    expect(finish).toMatchObject({ outcome: "failed", exitCode: null, error: { code: "E_SPAWN" } });
  });

  it("cancels a run on task.cancel", async () => {
    await agent().start();
    const taskId = assign({ kind: "exec", argv: ["sleep", "30"] });
    await coordinator.waitFor("task.accept");
    coordinator.send("task.cancel", { taskId, epoch: 1 });
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    expect(finish).toMatchObject({ outcome: "cancelled", signal: "SIGTERM" });
  });

  it("kills a run at once when the coordinator says its epoch is stale", async () => {
    const a = agent();
    await a.start();
    const taskId = assign({ kind: "exec", shell: "while true; do echo tick; sleep 0.05; done" }, 3);
    const first = await coordinator.waitFor("task.output", (m) => m.taskId === taskId);
    coordinator.send("error", {
      replyTo: first.id,
      code: "E_STALE_EPOCH",
      message: "lease moved",
      details: { taskId, epoch: 3 },
    });
    await waitUntil(() => a.slotsUsed === 0);
    // Frames the agent wrote before it read the error may still be on their way.
    await sleep(100);
    const count = coordinator.received.length;
    await sleep(250);
    const after = coordinator.received.slice(count).filter((m) => "taskId" in m && m.taskId === taskId);
    expect(after).toEqual([]);
  });

  it("keeps runs across a reconnect and sends the buffered output and finish after the welcome", async () => {
    await agent({ reconnectBaseMs: 20 }).start();
    const taskId = assign({ kind: "exec", shell: "sleep 0.3; echo done" });
    await coordinator.waitFor("task.accept");
    coordinator.dropConnection();
    const hellos = () => coordinator.all("agent.hello").length;
    await coordinator.waitFor("agent.hello", () => hellos() === 2);
    const secondHello = coordinator.all("agent.hello")[1];
    expect(secondHello?.running).toEqual([{ taskId, epoch: 1 }]);
    const finish = await coordinator.waitFor("task.finish", (m) => m.taskId === taskId);
    expect(finish.outcome).toBe("succeeded");
    expect(coordinator.all("task.output").map((m) => m.data)).toEqual(["done\n"]);
  });

  it("flushes a finish that happened while disconnected, and only for kept runs", async () => {
    const a = agent({ reconnectBaseMs: 400, reconnectCapMs: 400, random: () => 1 });
    await a.start();
    // Both runs end only after the connection is gone: nothing of theirs left on the old one.
    const offline = gate();
    const kept = assign({ kind: "exec", shell: `${offline.wait}; echo kept` });
    const dropped = assign({ kind: "exec", shell: `${offline.wait}; echo dropped` });
    await coordinator.waitFor("task.accept", (m) => m.taskId === dropped);
    coordinator.dropConnection();
    coordinator.received.length = 0;
    offline.open();
    coordinator.welcome = (hello) => ({
      nodeId: hello.node.id,
      heartbeatIntervalMs: 50,
      deadAfterMs: 1_000,
      keep: hello.running.filter((r) => r.taskId === kept),
      kill: hello.running.filter((r) => r.taskId !== kept),
    });
    const hello = await coordinator.waitFor("agent.hello");
    // Both runs finished while the agent was offline; it still holds their results.
    expect(hello.running.map((r) => r.taskId).sort()).toEqual([kept, dropped].sort());
    await coordinator.waitFor("task.finish", (m) => m.taskId === kept);
    await sleep(100);
    expect(coordinator.all("task.finish").map((m) => m.taskId)).toEqual([kept]);
    expect(coordinator.all("task.output").map((m) => m.data)).toEqual(["kept\n"]);
  });

  it("kills runs the welcome lists in kill, sending nothing for them", async () => {
    const a = agent({ reconnectBaseMs: 20 });
    await a.start();
    // The run cannot end by itself: only the kill frees the slot, and it writes nothing before it.
    const taskId = assign({ kind: "exec", shell: `${gate().wait}; echo late` });
    await coordinator.waitFor("task.accept");
    coordinator.welcome = (hello) => ({
      nodeId: hello.node.id,
      heartbeatIntervalMs: 50,
      deadAfterMs: 1_000,
      keep: [],
      kill: hello.running,
    });
    coordinator.dropConnection();
    await coordinator.waitFor("agent.hello", () => coordinator.all("agent.hello").length === 2);
    expect(coordinator.all("agent.hello")[1]?.running).toEqual([{ taskId, epoch: 1 }]);
    await waitUntil(() => a.slotsUsed === 0);
    await sleep(400);
    expect(coordinator.all("task.finish")).toEqual([]);
    expect(coordinator.all("task.output")).toEqual([]);
  });

  it("asks to steal work when idle, at most every stealIntervalMs", async () => {
    await agent({ stealIdleMs: 50, stealIntervalMs: 200 }).start();
    const first = await coordinator.waitFor("steal.request");
    expect(first.freeSlots).toBe(2);
    await sleep(300);
    expect(coordinator.all("steal.request").length).toBeLessThanOrEqual(3);
  });

  it("drains on stop: offline heartbeat, E_DRAINING for new and leftover work, then bye", async () => {
    const a = agent({ shutdownGraceMs: 1_500 });
    await a.start();
    const quick = assign({ kind: "exec", shell: "sleep 0.1; echo quick" });
    const slow = assign({ kind: "exec", argv: ["sleep", "30"] });
    await coordinator.waitFor("task.accept", (m) => m.taskId === slow);
    const stopping = a.stop();
    await coordinator.waitFor("heartbeat", (m) => m.status === "offline");
    const late = assign({ kind: "exec", argv: ["true"] });
    expect(await coordinator.waitFor("task.reject", (m) => m.taskId === late)).toMatchObject({
      code: "E_DRAINING",
    });
    await stopping;
    expect(await coordinator.waitFor("task.finish", (m) => m.taskId === quick)).toMatchObject({
      outcome: "succeeded",
    });
    expect(coordinator.all("task.reject").find((m) => m.taskId === slow)).toMatchObject({
      code: "E_DRAINING",
    });
    expect(coordinator.all("task.finish").map((m) => m.taskId)).toEqual([quick]);
    const types = coordinator.received.map((m) => m.type);
    expect(types.at(-1)).toBe("agent.bye");
  });

  it("a second stop cuts the grace period short", async () => {
    const a = agent({ shutdownGraceMs: 10_000, killGraceMs: 10_000 });
    await a.start();
    assign({ kind: "exec", shell: "trap '' TERM; echo ready; sleep 30" });
    // Its output means the trap is set: the run would now outlast both grace periods.
    await coordinator.waitFor("task.output");
    const started = Date.now();
    const first = a.stop();
    await sleep(100);
    await a.stop({ now: true });
    await first;
    // Far below the 10 s either grace period would take.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(coordinator.all("agent.bye")).toHaveLength(1);
  });

  it("rejects start with E_UNAUTHORIZED when the token is wrong", async () => {
    const a = agent({ token: "wrong" });
    const error = (await a.start().catch((e: unknown) => e)) as FlotillaError;
    expect(error.code).toBe("E_UNAUTHORIZED");
    expect(error.message).toBe("token rejected by coordinator");
    expect(coordinator.received).toEqual([]);
  });

  it("rejects start with E_COORDINATOR_UNAVAILABLE when nothing answers", async () => {
    const url = coordinator.url;
    await coordinator.close();
    setCoordinator(await TestCoordinator.start());
    const a = agent({ coordinatorUrl: url, connectTimeoutMs: 300, reconnectBaseMs: 20 });
    const started = Date.now();
    const error = (await a.start().catch((e: unknown) => e)) as FlotillaError;
    expect(error.code).toBe("E_COORDINATOR_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("stops reconnecting and reports a fatal error when the token is rejected later", async () => {
    let fatal: FlotillaError | undefined;
    const a = agent({ reconnectBaseMs: 20, onFatal: (e) => (fatal = e) });
    await a.start();
    const port = new URL(coordinator.url).port;
    await coordinator.close();
    setCoordinator(await TestCoordinator.startOn(Number(port), "rotated"));
    await waitUntil(() => fatal !== undefined);
    expect(fatal?.code).toBe("E_UNAUTHORIZED");
    expect(a.connected).toBe(false);
  });

  it("stops for good when another agent takes over its node id", async () => {
    let fatal: FlotillaError | undefined;
    const a = agent({ reconnectBaseMs: 20, onFatal: (e) => (fatal = e) });
    await a.start();
    coordinator.closeWith(4000, "replaced by a newer connection of the same node");
    await waitUntil(() => fatal !== undefined);
    expect(fatal?.code).toBe("E_CONFLICT");
    await sleep(200);
    expect(coordinator.all("agent.hello")).toHaveLength(1);
  });

  it("notices a docker engine that starts after the agent", async () => {
    const bin = await mkdtemp(join(tmpdir(), "flotilla-docker-"));
    const docker = join(bin, "docker");
    await writeFile(docker, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path ?? ""}`;
    try {
      const a = agent({ measure: true, fingerprintRefreshMs: 100, workDir: bin });
      await a.start();
      expect(a.capabilities).not.toContain("docker");
      // Replaced by a rename, so a check running right now reads the old script or the new one whole.
      await writeFile(`${docker}.new`, "#!/bin/sh\necho 27.3.1\n", { mode: 0o755 });
      await rename(`${docker}.new`, docker);
      await coordinator.waitFor("heartbeat", (m) => m.capabilities.includes("docker"));
      expect(a.fingerprint?.docker).toEqual({ available: true, version: "27.3.1" });
    } finally {
      process.env.PATH = path;
      await rm(bin, { recursive: true, force: true });
    }
  });
});
