import { afterEach, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";
import { rawSocket } from "./raw.js";

describe("stopping the coordinator", () => {
  let fleet: TestFleet | undefined;
  afterEach(async () => {
    await fleet?.dispose();
  });

  it("closes the connections of clients and agents that are still open, and does not wait for them", async () => {
    fleet = await startFleet();
    await fleet.addAgent({ id: "worker", slots: 1, handlers: { echo: async (payload) => payload } });
    const client = await rawSocket(fleet, "/v1/client");
    const agentSide = await rawSocket(fleet, "/v1/agent");
    const started = performance.now();
    await fleet.coordinator.stop();
    // The server's own close waits for every socket; WebSocket ones it does not close by itself.
    expect(performance.now() - started).toBeLessThan(5_000);
    await Promise.all([client.closed, agentSide.closed]);
  });
});
