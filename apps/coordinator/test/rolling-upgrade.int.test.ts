import type { TaskResult } from "@flotilla/client";
import { waitFor } from "@flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

/**
 * The rolling upgrade docs/deploy.md describes, with work flowing the whole time: drain a node, wait for
 * it to be idle, stop its agent, start the new one under the same id, undrain. Nothing fails or is lost.
 */
describe("a rolling upgrade of one agent", () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startFleet();
    await fleet.addAgent({ id: "node-a" });
    await fleet.addAgent({ id: "node-b" });
  });
  afterAll(async () => {
    await fleet?.dispose();
  });

  it("drain, upgrade, undrain: every task submitted meanwhile succeeds, and the node takes work again", async () => {
    const client = await fleet.client();
    const results: Promise<TaskResult>[] = [];
    let flowing = true;
    const submitter = (async () => {
      while (flowing) {
        const handle = await client.submit({ kind: "exec", argv: ["sh", "-c", "sleep 0.05"] });
        results.push(handle.result());
        // Two tasks in flight at most: the fleet is never idle, never flooded.
        if (results.length >= 2) await results[results.length - 2];
      }
    })();
    const nodeOf = async (index: number) => (await results[index])?.record.node;
    await waitFor(() => results.length >= 10, { what: "work flowing before the upgrade" });

    await client.drain("node-a");
    await waitFor(async () => (await client.nodes()).find((n) => n.id === "node-a")?.slotsUsed === 0, {
      what: "node-a idle after the drain",
    });
    const [old] = fleet.agents.splice(0, 1);
    await old?.stop();
    const duringUpgrade = results.length;
    // The upgraded agent: a new process under the same node id.
    await fleet.addAgent({ id: "node-a" });
    await waitFor(() => results.length >= duringUpgrade + 5, { what: "work flowing during the upgrade" });
    // Counted before the undrain: a task submitted while the undrain is on its way may go to node-a.
    const afterUndrain = results.length;
    await client.undrain("node-a");
    await waitFor(
      async () => {
        for (let i = afterUndrain; i < results.length - 1; i++)
          if ((await nodeOf(i)) === "node-a") return true;
        return false;
      },
      { what: "node-a taking work again", timeoutMs: 20_000 },
    );
    flowing = false;
    await submitter;
    const settled = await Promise.all(results);
    expect(settled.filter((result) => result.state !== "succeeded")).toEqual([]);
    const duringNodes = new Set(settled.slice(duringUpgrade, afterUndrain).map((r) => r.record.node));
    expect([...duringNodes]).toEqual(["node-b"]);
  });
});
