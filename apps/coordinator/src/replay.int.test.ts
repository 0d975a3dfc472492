import { connect, createServer, type Server, type Socket } from "node:net";
import { isFlotillaError } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { redisPerSuite } from "../test/redis.js";
import { coordinatorKeys } from "./keys.js";
import { TaskStore } from "./store.js";

/**
 * A TCP proxy in front of Redis that can swallow Redis's replies and cut every connection: a script then
 * runs in Redis while its reply is lost with the connection, which is when ioredis sends it again.
 */
class ReplyEatingProxy {
  swallow = false;
  private readonly pairs = new Set<[Socket, Socket]>();
  private constructor(private readonly server: Server) {}

  static async start(redisPort: number): Promise<ReplyEatingProxy> {
    const server = createServer();
    const proxy = new ReplyEatingProxy(server);
    server.on("connection", (client) => {
      const upstream = connect(redisPort, "127.0.0.1");
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      client.pipe(upstream);
      upstream.on("data", (bytes: Buffer) => {
        if (!proxy.swallow) client.write(bytes);
      });
      const close = (): void => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", close).on("error", close);
      upstream.on("close", close).on("error", close);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  }

  /** Drops every connection (the replies swallowed so far are lost with it) and passes replies again. */
  cut(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    this.swallow = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const spec = '{"kind":"exec","argv":["true"]}';

function submitInput(store: TaskStore, id: string, node: string) {
  return store.submit({
    id,
    fields: { id, state: "queued", spec, node, createdAt: 1, updatedAt: 1 },
    target: { node },
    score: 1,
    event: JSON.stringify({ taskId: id, state: "queued" }),
    now: 1,
  });
}

describe("script batches sent twice (real redis-server)", () => {
  const suite = redisPerSuite();

  it("answers a batch with a request id it has run with that run's reply, changing nothing again", async () => {
    const keys = coordinatorKeys("same-id").store;
    let fixed = "first";
    const store = new TaskStore(suite.redis, keys, {
      idempotencyTtlSeconds: 60,
      outputCap: 100,
      requestId: () => fixed,
    });
    for (let i = 0; i < 6; i += 1) await submitInput(store, `r${i}`, "n");
    fixed = "lease-1";
    const first = await store.lease("n", 2, 10);
    const again = await store.lease("n", 2, 10);
    expect(again).toEqual(first);
    expect(first.leases.map((lease) => lease.taskId)).toEqual(["r0", "r1"]);
    expect((await suite.redis.smembers(keys.running("n"))).sort()).toEqual(["r0", "r1"]);
    expect(await suite.redis.zcard(keys.queue("n"))).toBe(4);

    fixed = "finish-1";
    const finish = {
      expectedEpoch: 1,
      from: ["leased", "running"],
      to: "succeeded",
      source: { kind: "set" as const, key: keys.running("n") },
      now: 11,
    };
    const done = await store.transition("r0", finish);
    expect(done.ok).toBe(true);
    expect(await store.transition("r0", finish)).toEqual(done);
    expect(await suite.redis.llen(keys.taskEvents("r0"))).toBe(3);

    fixed = "output-1";
    const chunk = [{ seq: 0, stream: "stdout", data: "hello" }];
    expect(await store.appendOutput("r1", 1, chunk)).toEqual({ whole: 1 });
    expect(await store.appendOutput("r1", 1, chunk)).toEqual({ whole: 1 });
    expect(await suite.redis.xlen(keys.taskOutput("r1"))).toBe(1);

    // A new request id runs anew.
    fixed = "lease-2";
    expect((await store.lease("n", 2, 12)).leases.map((lease) => lease.taskId)).toEqual(["r2", "r3"]);
    expect(await suite.redis.pttl(keys.reply("lease-2"))).toBeGreaterThan(60_000);
    // Its answer came, so the next batch deletes the reply: Redis keeps only replies of batches in flight.
    fixed = "output-2";
    expect(await store.appendOutput("r2", 1, chunk)).toEqual({ whole: 1 });
    expect(await suite.redis.exists(keys.reply("lease-2"))).toBe(0);
  });

  it("refuses a batch whose fencing token is not the current one, with E_NOT_LEADER", async () => {
    const keys = coordinatorKeys("fenced").store;
    const store = new TaskStore(suite.redis, keys, { idempotencyTtlSeconds: 60, outputCap: 100 });
    await suite.redis.set(keys.fence(), "7");
    store.setFencingToken("6");
    const refused = await submitInput(store, "f1", "n").catch((error: unknown) => error);
    expect(isFlotillaError(refused) && refused.code).toBe("E_NOT_LEADER");
    expect(await suite.redis.exists(keys.task("f1"))).toBe(0);
    store.setFencingToken("7");
    expect(await submitInput(store, "f1", "n")).toMatchObject({ duplicate: false });
  });

  it("strands no task when the connection drops after Redis ran a batch, six times over 150 tasks", async () => {
    const proxy = await ReplyEatingProxy.start(suite.server.port);
    const redis = new Redis(proxy.port, "127.0.0.1", {
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: () => 20,
    });
    redis.on("error", () => {});
    try {
      const keys = coordinatorKeys("cut").store;
      const store = new TaskStore(redis, keys, { idempotencyTtlSeconds: 60, outputCap: 100 });
      const ids = Array.from({ length: 150 }, (_, i) => `c${i}`);
      await Promise.all(ids.map((id) => submitInput(store, id, "n")));
      const leasedIds: string[] = [];
      for (let round = 0; round < 6; round += 1) {
        // The lease runs in Redis, its reply is lost, and ioredis sends it again after reconnecting.
        proxy.swallow = true;
        const leasing = store.lease("n", 25, 100 + round);
        await waitFor(async () => (await suite.redis.scard(keys.running("n"))) === 25, {
          what: "the lease ran",
        });
        proxy.cut();
        const { leases } = await leasing;
        expect(leases).toHaveLength(25);
        expect((await suite.redis.smembers(keys.running("n"))).sort()).toEqual(
          leases.map((lease) => lease.taskId).sort(),
        );
        // The finishes too.
        proxy.swallow = true;
        const finishing = Promise.all(
          leases.map((lease) =>
            store.transition(lease.taskId, {
              expectedEpoch: lease.epoch,
              from: ["leased", "running"],
              to: "succeeded",
              source: { kind: "set", key: keys.running("n") },
              now: 200 + round,
            }),
          ),
        );
        await waitFor(async () => (await suite.redis.scard(keys.running("n"))) === 0, {
          what: "the finishes ran",
        });
        proxy.cut();
        const finished = await finishing;
        expect(finished.every((result) => result.ok)).toBe(true);
        leasedIds.push(...leases.map((lease) => lease.taskId));
      }
      expect(leasedIds.sort()).toEqual([...ids].sort());
      const states = await Promise.all(ids.map((id) => suite.redis.hget(keys.task(id), "state")));
      expect(states.every((state) => state === "succeeded")).toBe(true);
      expect(await suite.redis.zcard(keys.queue("n"))).toBe(0);
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });
});
