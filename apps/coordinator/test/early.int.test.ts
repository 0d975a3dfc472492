import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import { startFleet, type TestFleet } from "./fleet.js";
import { envelope, rawSocket, redisCli } from "./raw.js";

/** The states in a task's stored history, in order. */
function history(port: number, taskId: string): string[] {
  return redisCli(port, "lrange", coordinatorKeys("").store.taskEvents(taskId), "0", "-1")
    .split("\n")
    .map((line) => (JSON.parse(line) as { state: string }).state);
}

describe("a lease sent to its agent before Redis has answered the submit", () => {
  let fleet: TestFleet;
  const calledAt: number[] = [];
  const stopped: string[] = [];
  let started = 0;

  beforeAll(async () => {
    // Heartbeats 30 s apart: each one has the coordinator check the node's queue with a script, and a
    // script in the same batch as the submit would rule out the early lease (it is for lone submits).
    fleet = await startFleet({ heartbeatIntervalMs: 30_000, deadAfterMs: 90_000 });
    await fleet.addAgent({
      id: "worker",
      slots: 2,
      handlers: {
        stamp: async () => {
          calledAt.push(Date.now());
          return "ran";
        },
        // Runs until it is told to stop.
        hold: (_payload, ctx) => {
          started += 1;
          return new Promise((_resolve, reject) => {
            const stop = () => {
              stopped.push(String(ctx.signal.reason));
              reject(new Error("stopped"));
            };
            if (ctx.signal.aborted) stop();
            else ctx.signal.addEventListener("abort", stop);
          });
        },
      },
    });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("runs while Redis still holds the script back, and the answers and history keep their order", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    // One task first: the agent is welcomed and idle, and nothing else is in flight.
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "call", handler: "stamp" }, wait: true })),
    );
    await client.next((reply) => reply.type === "task.done");
    client.inbox.length = 0;
    calledAt.length = 0;
    // Redis runs no script for 400 ms: the submit's write waits in Redis, unanswered.
    // Taken before the pause starts: Redis answers nothing for at least 400 ms from here.
    const pausedAt = Date.now();
    redisCli(fleet.redis.port, "client", "pause", "400", "write");
    const sentAt = Date.now();
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "call", handler: "stamp" }, wait: true })),
    );
    const done = await client.next((reply) => reply.type === "task.done");
    const acceptedAt = client.inbox.findIndex((reply) => reply.type === "task.accepted");
    // The handler ran long before Redis answered; the client still heard of the task first.
    expect(calledAt).toHaveLength(1);
    expect((calledAt[0] as number) - sentAt).toBeLessThan(300);
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(390);
    expect(acceptedAt).toBeGreaterThanOrEqual(0);
    expect(acceptedAt).toBeLessThan(client.inbox.indexOf(done));
    expect(done.record).toMatchObject({ state: "succeeded", result: "ran", node: "worker", epoch: 1 });
    // (A call this short may end before its agent's accept is sent: then there is no "running".)
    expect(history(fleet.redis.port, String(done.taskId)).filter((state) => state !== "running")).toEqual([
      "queued",
      "leased",
      "succeeded",
    ]);
    client.socket.close();
  });

  it("runs a submit of the client library early too: the key it made for the submit is fresh", async () => {
    const client = await fleet.client();
    calledAt.length = 0;
    redisCli(fleet.redis.port, "client", "pause", "300", "write");
    const sentAt = Date.now();
    const result = await (await client.submit({ kind: "call", handler: "stamp" })).result();
    expect(result).toMatchObject({ state: "succeeded", result: "ran" });
    expect(calledAt).toHaveLength(1);
    expect((calledAt[0] as number) - sentAt).toBeLessThan(250);
  });

  it("waits for Redis before running a task with an idempotency key (the key may name an older task)", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    calledAt.length = 0;
    const pausedAt = Date.now();
    redisCli(fleet.redis.port, "client", "pause", "300", "write");
    client.socket.send(
      JSON.stringify(
        envelope("task.submit", {
          spec: { kind: "call", handler: "stamp", idempotencyKey: `once-${pausedAt}` },
          wait: true,
        }),
      ),
    );
    await client.next((reply) => reply.type === "task.done");
    expect(calledAt).toHaveLength(1);
    expect((calledAt[0] as number) - pausedAt).toBeGreaterThanOrEqual(290);
    client.socket.close();
  });

  it("stops the run when the submit fails, and sends no lease ahead again until a write succeeds", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    // The submit script fails: it may no longer write the task's hash.
    redisCli(fleet.redis.port, "acl", "setuser", "default", "-hset");
    try {
      const first = envelope("task.submit", { spec: { kind: "call", handler: "hold" } });
      client.socket.send(JSON.stringify(first));
      const refused = await client.next((reply) => reply.replyTo === first.id);
      expect(refused.type).toBe("error");
      // The run that started ahead of the failed write was stopped by a fence.
      await waitFor(() => stopped.length === 1, { what: "the early run to stop" });
      expect(started).toBe(1);
      expect(stopped[0]).toMatch(/cancelled/);

      const second = envelope("task.submit", { spec: { kind: "call", handler: "hold" } });
      client.socket.send(JSON.stringify(second));
      expect((await client.next((reply) => reply.replyTo === second.id)).type).toBe("error");
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(started).toBe(1);
    } finally {
      redisCli(fleet.redis.port, "acl", "setuser", "default", "+hset");
    }
    // Writes work again: the next submit is answered, and runs.
    const third = envelope("task.submit", { spec: { kind: "call", handler: "stamp" }, wait: true });
    client.socket.send(JSON.stringify(third));
    const done = await client.next((reply) => reply.type === "task.done" && reply.record?.result === "ran");
    expect(done.record).toMatchObject({ state: "succeeded" });
    client.socket.close();
  });
});
