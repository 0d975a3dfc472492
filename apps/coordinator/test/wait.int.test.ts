import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coordinatorKeys } from "../src/keys.js";
import { startFleet, type TestFleet } from "./fleet.js";
import { envelope, rawSocket, redisCli } from "./raw.js";

describe("submitting with wait, and leasing at submit time", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet();
    await fleet.addAgent({
      id: "worker",
      slots: 1,
      handlers: {
        echo: async (payload) => payload,
        slow: async (payload) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          return payload;
        },
        fail: async () => {
          throw new Error("no such thing");
        },
      },
    });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("pushes task.done with the final record to the submitting connection, after task.accepted", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    const submit = envelope("task.submit", {
      spec: { kind: "call", handler: "echo", payload: 7 },
      wait: true,
    });
    client.socket.send(JSON.stringify(submit));
    const done = await client.next((reply) => reply.type === "task.done");
    const accepted = client.inbox.findIndex((reply) => reply.type === "task.accepted");
    expect(accepted).toBeGreaterThanOrEqual(0);
    expect(accepted).toBeLessThan(client.inbox.indexOf(done));
    expect(done.taskId).toBe(client.inbox[accepted]?.taskId);
    expect(done.record).toMatchObject({ id: done.taskId, state: "succeeded", result: 7, node: "worker" });
    expect(typeof done.record?.startedAt).toBe("number");
    // No watch was asked for: no task.event frames either.
    expect(client.inbox.filter((reply) => reply.type === "task.event")).toEqual([]);
    client.socket.close();
  });

  it("sends in task.done the record a read of the task gives, however the run went", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    /** The task as a `task.get` reads it from Redis. */
    const read = async (taskId: string): Promise<unknown> => {
      const request = envelope("task.get", { taskId });
      client.socket.send(JSON.stringify(request));
      const reply = (await client.next((frame) => frame.replyTo === request.id)) as { result?: unknown };
      return reply.result;
    };
    // Ended before its agent's accept, ended after it (running recorded), and failed with an error.
    for (const spec of [
      { kind: "call", handler: "echo", payload: { n: 1 } },
      { kind: "call", handler: "slow", payload: "later" },
      { kind: "call", handler: "fail" },
    ]) {
      client.inbox.length = 0;
      client.socket.send(JSON.stringify(envelope("task.submit", { spec, wait: true })));
      const done = await client.next((reply) => reply.type === "task.done");
      expect(done.record).toEqual(await read(String(done.taskId)));
      expect(done.record).toMatchObject({ epoch: 1, attempt: 1, node: "worker" });
    }
    // A change this coordinator did not make (another one's, recorded in the history as every state
    // change is) comes in while the task runs: task.done has it too.
    client.inbox.length = 0;
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "call", handler: "slow" }, wait: true })),
    );
    const accepted = await client.next((reply) => reply.type === "task.accepted");
    const taskKey = coordinatorKeys("").store.task(String(accepted.taskId));
    redisCli(fleet.redis.port, "hset", taskKey, "submitter", "someone-else");
    const eventsKey = coordinatorKeys("").store.taskEvents(String(accepted.taskId));
    redisCli(
      fleet.redis.port,
      "rpush",
      eventsKey,
      JSON.stringify({ taskId: accepted.taskId, state: "leased" }),
    );
    const done = await client.next((reply) => reply.type === "task.done");
    expect(done.record).toEqual(await read(String(done.taskId)));
    expect(done.record).toMatchObject({ state: "succeeded", submitter: "someone-else" });
    client.socket.close();
  });

  it("leases a task in its submit script when a slot is free, keeping every step in its history", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    client.socket.send(
      JSON.stringify(envelope("task.submit", { spec: { kind: "call", handler: "echo" }, wait: true })),
    );
    const done = await client.next((reply) => reply.type === "task.done");
    const eventsKey = coordinatorKeys("").store.taskEvents(String(done.taskId));
    const states = redisCli(fleet.redis.port, "lrange", eventsKey, "0", "-1")
      .split("\n")
      .map((line) => (JSON.parse(line) as { state: string }).state);
    expect(states[0]).toBe("queued");
    expect(states[1]).toBe("leased");
    expect(states.at(-1)).toBe("succeeded");
    client.socket.close();
  });

  it("leases a burst of submits each in its own script while the node has room, in submit order", async () => {
    const order: unknown[] = [];
    await fleet.addAgent({
      id: "wide",
      slots: 8,
      handlers: {
        mark: async (payload) => {
          order.push(payload);
          return payload;
        },
      },
    });
    redisCli(fleet.redis.port, "config", "resetstat");
    const client = await rawSocket(fleet, "/v1/client");
    // Sent in one turn, so the coordinator reads them together: none has landed when the next is placed.
    for (let i = 0; i < 6; i += 1) {
      client.socket.send(
        JSON.stringify(
          envelope("task.submit", { spec: { kind: "call", handler: "mark", payload: i }, wait: true }),
        ),
      );
    }
    await client.next(() => client.inbox.filter((reply) => reply.type === "task.done").length === 6);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    // A queued task costs a ZADD to its queue besides the ones to the index of all tasks and, as it ends,
    // to that of finished tasks: none was queued.
    const zadds = /cmdstat_zadd:calls=(\d+)/.exec(redisCli(fleet.redis.port, "info", "commandstats"));
    expect(Number(zadds?.[1])).toBe(12);
    client.socket.close();
  });

  it("queues behind a busy slot and still answers every waiter", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    for (let i = 0; i < 3; i += 1) {
      client.socket.send(
        JSON.stringify(
          envelope("task.submit", { spec: { kind: "call", handler: "slow", payload: i }, wait: true }),
        ),
      );
    }
    await client.next(() => client.inbox.filter((reply) => reply.type === "task.done").length === 3);
    const results = client.inbox
      .filter((reply) => reply.type === "task.done")
      .map((reply) => reply.record?.result)
      .sort();
    expect(results).toEqual([0, 1, 2]);
    client.socket.close();
  });

  it("holds a waiting submit's task.accepted until its task.done, or ackHoldMs at the most", async () => {
    const held = await startFleet({ ackHoldMs: 300 });
    try {
      await held.addAgent({
        id: "holder",
        slots: 1,
        handlers: {
          echo: async (payload) => payload,
          slow: async () => new Promise((resolve) => setTimeout(resolve, 900)),
        },
      });
      const client = await rawSocket(held, "/v1/client");
      const arrived = new Map<string, number>();
      client.socket.on("message", (data) => {
        const reply = JSON.parse(String(data)) as { type: string; taskId?: string };
        arrived.set(`${reply.type} ${reply.taskId}`, performance.now());
      });
      const run = async (handler: string) => {
        const sent = performance.now();
        const submit = envelope("task.submit", { spec: { kind: "call", handler }, wait: true });
        client.socket.send(JSON.stringify(submit));
        const accepted = await client.next(
          (r) => r.type === "task.accepted" && r.replyTo === submit.id,
          5_000,
        );
        const done = await client.next((r) => r.type === "task.done" && r.taskId === accepted.taskId, 5_000);
        const at = (type: string) => (arrived.get(`${type} ${accepted.taskId}`) as number) - sent;
        expect(client.inbox.indexOf(accepted)).toBeLessThan(client.inbox.indexOf(done));
        return { accepted: at("task.accepted"), done: at("task.done") };
      };
      // A short task: the answer leaves with the outcome, well before the hold is over.
      const quick = await run("echo");
      expect(quick.accepted).toBeLessThan(250);
      expect(quick.done - quick.accepted).toBeLessThan(5);
      // A long one: the answer goes once the hold is over, long before the outcome.
      const slow = await run("slow");
      expect(slow.accepted).toBeGreaterThanOrEqual(290);
      expect(slow.done - slow.accepted).toBeGreaterThan(300);
      client.socket.close();
    } finally {
      await held.dispose();
    }
  });

  it("answers a duplicate submit with wait at once when the task already ended", async () => {
    const client = await rawSocket(fleet, "/v1/client");
    const spec = { kind: "call", handler: "echo", payload: "once", idempotencyKey: "wait-dup-1" };
    client.socket.send(JSON.stringify(envelope("task.submit", { spec, wait: true })));
    const first = await client.next((reply) => reply.type === "task.done");
    client.socket.send(JSON.stringify(envelope("task.submit", { spec, wait: true }, "second")));
    const duplicate = await client.next(
      (reply) => reply.type === "task.accepted" && reply.replyTo === "second",
    );
    expect(duplicate).toMatchObject({ taskId: first.taskId });
    await client.next(() => client.inbox.filter((reply) => reply.type === "task.done").length === 2);
    const dones = client.inbox.filter((reply) => reply.type === "task.done");
    expect(dones[1]?.record).toMatchObject({ id: first.taskId, state: "succeeded", result: "once" });
    client.socket.close();
  });
});
