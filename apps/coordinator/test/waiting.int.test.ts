import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { redisCli } from "./raw.js";

/** A long head of waiting tasks no node can take must not hide the tasks behind it. */
describe("the waiting list", () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet({ heartbeatIntervalMs: 200, sweepIntervalMs: 50 });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("places a task behind 600 that no node can take, and fails one on its maxWait", async () => {
    const client = await fleet.client();
    // No agent yet: every task waits. The 600 run out of waiting before the placeable one does, so
    // they sit ahead of it in the list.
    await Promise.all(
      Array.from({ length: 600 }, () =>
        client.submit({ kind: "exec", argv: ["true"], needs: { gpu: true }, maxWaitMs: 60_000 }),
      ),
    );
    const placeable = await client.submit({ kind: "exec", argv: ["true"], maxWaitMs: 120_000 });
    const shortWait = await client.submit({
      kind: "exec",
      argv: ["true"],
      needs: { gpu: true },
      maxWaitMs: 1500,
    });
    const submittedAt = Date.now();
    expect((await client.task(placeable.id)).state).toBe("waiting");
    await fleet.addAgent({ id: "no-gpu", slots: 2 });
    const joinedAt = Date.now();
    const ran = await placeable.result();
    expect(ran.state).toBe("succeeded");
    // One page of the list a second: the second page reaches it.
    expect(Date.now() - joinedAt).toBeLessThan(5_000);
    const failed = await shortWait.result();
    expect(failed.state).toBe("failed");
    expect(failed.error?.code).toBe("E_NODE_UNAVAILABLE");
    expect(Date.now() - submittedAt).toBeLessThan(1500 + 2_000);
  });

  it("drops entries of the waiting and delayed lists whose task is gone or has moved on", async () => {
    const port = fleet.redis.port;
    const client = await fleet.client();
    const done = await client.submit({ kind: "exec", argv: ["true"] });
    await done.result();
    redisCli(port, "ZADD", "queue:waiting", "0", "t-gone", "0", done.id);
    redisCli(port, "ZADD", "tasks:delayed", "0", "t-gone", "0", done.id);
    await waitFor(
      () =>
        redisCli(port, "ZSCORE", "queue:waiting", "t-gone") === "" &&
        redisCli(port, "ZSCORE", "queue:waiting", done.id) === "" &&
        redisCli(port, "ZSCORE", "tasks:delayed", "t-gone") === "" &&
        redisCli(port, "ZSCORE", "tasks:delayed", done.id) === "",
      { what: "the stale entries dropped", timeoutMs: 5_000 },
    );
  });
});
