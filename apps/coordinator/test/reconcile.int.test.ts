import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { redisCli } from "./raw.js";

/**
 * Leases Redis holds for a node that its agent does not: what a lease script whose reply was lost leaves
 * (the task leased in `running:{node}`, no assignment ever sent). The heartbeats must find them.
 */
describe("heartbeats reconcile running:{node} with the agent's runs", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ heartbeatIntervalMs: 100, deadAfterMs: 2000, sweepIntervalMs: 50 });
    await fleet.addAgent({ id: "worker", slots: 2 });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  /** Writes task `id` by hand as leased to `worker` under epoch 1, `ageMs` ago, in `running:worker`. */
  async function strand(id: string, ageMs: number): Promise<void> {
    const client = await fleet.client();
    const model = await client.submit({ kind: "exec", shell: `echo ${id}` });
    await model.result();
    const port = fleet.redis.port;
    const spec = redisCli(port, "HGET", `task:{${model.id}}`, "spec");
    const leasedAt = Date.now() - ageMs;
    redisCli(
      port,
      "HSET",
      `task:{${id}}`,
      ...["id", id, "spec", spec, "state", "leased", "priority", "normal", "epoch", "1", "attempt", "1"],
      ...["maxAttempts", "3", "createdAt", String(leasedAt), "updatedAt", String(leasedAt)],
      ...["submitter", "test", "node", "worker", "leasedAt", String(leasedAt)],
    );
    redisCli(port, "ZADD", "tasks:all", String(leasedAt), id);
    redisCli(port, "SADD", "running:worker", id);
  }

  it("requeues a lease the agent never got, and the task runs", async () => {
    await strand("t-stranded", 10_000);
    const client = await fleet.client();
    const task = await waitFor(
      async () => {
        const record = await client.task("t-stranded");
        return record.state === "succeeded" ? record : undefined;
      },
      { what: "the stranded task requeued and run", timeoutMs: 5_000 },
    );
    expect(task.epoch).toBeGreaterThan(1);
    expect(redisCli(fleet.redis.port, "SISMEMBER", "running:worker", "t-stranded")).toBe("0");
  });

  it("leaves a young lease alone for the grace, then requeues it", async () => {
    await strand("t-young", 0);
    const client = await fleet.client();
    // Within two heartbeats of its lease it is still on its way: not requeued yet.
    expect((await client.task("t-young")).epoch).toBe(1);
    await waitFor(async () => (await client.task("t-young")).state === "succeeded", {
      what: "the young stranded task requeued after its grace",
      timeoutMs: 5_000,
    });
  });

  it("drops an entry whose task does not exist", async () => {
    redisCli(fleet.redis.port, "SADD", "running:worker", "t-ghost");
    await waitFor(() => redisCli(fleet.redis.port, "SISMEMBER", "running:worker", "t-ghost") === "0", {
      what: "the ghost entry dropped",
      timeoutMs: 5_000,
    });
  });
});
