import { waitFor } from "@flotilla/testing";
import { describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import { fleetPerSuite, testCoordinator } from "./fleet.js";
import { envelope, agentHello as hello, rawSocket } from "./raw.js";

describe("reports on runs the lease table does not know yet (after a takeover, before the node's hello)", () => {
  const suite = fleetPerSuite();

  it("are checked against the run's node in Redis: another node's are refused and counted", async () => {
    const { fleet, redis } = suite;
    // Node y runs a task under the first coordinator.
    const y = await rawSocket(fleet, "/v1/agent");
    y.socket.send(JSON.stringify(hello("y", "hello-y")));
    await y.next((reply) => reply.type === "agent.welcome");
    const client = await rawSocket(fleet, "/v1/client");
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "exec", argv: ["true"], node: "y" } }, "s")),
    );
    const assign = (await y.next((reply) => reply.type === "task.assign")) as unknown as {
      taskId: string;
      epoch: number;
    };
    const run = { taskId: assign.taskId, epoch: assign.epoch };
    y.socket.send(JSON.stringify({ ...envelope("task.accept", run, "accepted"), from: "y" }));
    const taskKey = coordinatorKeys("").store.task(run.taskId);
    const waitForState = (state: string): Promise<unknown> =>
      waitFor(async () => (await redis.hget(taskKey, "state")) === state, { timeoutMs: 15_000 });
    await waitForState("running");
    client.socket.close();
    y.socket.close();

    // Another coordinator takes over; node y has not said hello to it.
    await fleet.coordinator.stop();
    const next = testCoordinator(fleet.redis.url);
    await next.start();
    const atNext = { ...fleet, coordinator: next };
    try {
      const x = await rawSocket(atNext, "/v1/agent");
      x.socket.send(JSON.stringify(hello("x", "hello-x")));
      await x.next((reply) => reply.type === "agent.welcome");
      const reports = {
        "task.accept": run,
        "task.output": { ...run, stream: "stdout", seq: 0, data: "not mine" },
        "task.progress": { ...run, percent: 50 },
        "task.finish": { ...run, outcome: "failed", exitCode: 1, signal: null, durationMs: 1 },
      };
      for (const [type, fields] of Object.entries(reports))
        x.socket.send(JSON.stringify({ ...envelope(type, fields, `x-${type}`), from: "x" }));
      for (const type of Object.keys(reports)) {
        const refusal = await x.next((reply) => reply.replyTo === `x-${type}`);
        expect({ type, code: refusal.code }).toEqual({ type, code: "E_FORBIDDEN" });
      }
      const metrics = await next.inspect.metrics();
      expect(metrics).toMatch(/^flotilla_foreign_frames_total 4$/m);
      // The run is untouched: still y's, still running, no output from x.
      expect(await redis.hmget(taskKey, "state", "node", "epoch")).toEqual([
        "running",
        "y",
        String(run.epoch),
      ]);
      expect(await redis.exists(coordinatorKeys("").store.taskOutput(run.taskId))).toBe(0);

      // Node y says hello with its run, and reports on it as before.
      const back = await rawSocket(atNext, "/v1/agent");
      back.socket.send(JSON.stringify({ ...hello("y", "hello-again"), running: [run] }));
      await back.next((reply) => reply.type === "agent.welcome");
      const finish = { ...run, outcome: "succeeded", exitCode: 0, signal: null, durationMs: 1 };
      back.socket.send(
        JSON.stringify({
          ...envelope("task.output", { ...run, stream: "stdout", seq: 0, data: "mine" }),
          from: "y",
        }),
      );
      back.socket.send(JSON.stringify({ ...envelope("task.finish", finish, "y-finish"), from: "y" }));
      await waitForState("succeeded");
      expect(back.inbox.some((reply) => reply.code === "E_FORBIDDEN")).toBe(false);
      expect(await redis.xlen(coordinatorKeys("").store.taskOutput(run.taskId))).toBe(1);
      for (const socket of [x, back]) socket.socket.close();
    } finally {
      await next.stop();
    }
  }, 60_000);
});
