import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFleet, type TestFleet } from "./fleet.js";

/** A TCP proxy in front of the coordinator that a test can cut and heal: a network partition on loopback. */
class Partition {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** The proxy's port: picked by the kernel at the first heal, kept for the next ones. */
  port = 0;
  constructor(private readonly target: number) {}

  async heal(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = tcpConnect(this.target, "127.0.0.1");
      for (const socket of [inbound, outbound]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => socket.destroy());
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

describe("failover: a node cut off mid-run", () => {
  let fleet: TestFleet;
  let partition: Partition;

  beforeAll(async () => {
    fleet = await startFleet({
      heartbeatIntervalMs: 200,
      // Far above what the closed connection takes to be noticed, so the bound below tells the two apart.
      deadAfterMs: 5000,
      suspectGraceMs: 500,
      sweepIntervalMs: 50,
    });
    partition = new Partition(fleet.coordinator.port);
    await partition.heal();
  });
  afterAll(async () => {
    await partition?.cut();
    await fleet?.dispose();
  });

  it("requeues its runs on another node within the detection time, and fences the stale results", async () => {
    await fleet.addAgent({
      id: "cut-off",
      slots: 2,
      coordinatorUrl: `ws://127.0.0.1:${partition.port}`,
      reconnectBaseMs: 50,
      reconnectCapMs: 200,
    });
    const client = await fleet.client();
    const handles = await Promise.all(
      [1, 2].map((i) => client.submit({ kind: "exec", shell: `sleep 1.2; echo done-${i}` })),
    );
    await waitFor(
      async () =>
        (await Promise.all(handles.map((h) => client.task(h.id)))).every((t) => t.state === "running"),
      {
        what: "both tasks running on the first node",
      },
    );
    await fleet.addAgent({ id: "survivor", slots: 2 });

    const cutAt = Date.now();
    await partition.cut();
    const results = await Promise.all(handles.map((handle) => handle.result()));
    const requeueEvents = await Promise.all(
      handles.map(async (handle) => {
        const redis = new Redis(fleet.redis.url);
        const events = (await redis.lrange(`task:{${handle.id}}:events`, 0, -1)).map((line) =>
          JSON.parse(line),
        );
        redis.disconnect();
        return events as { state: string; at: number; node?: string; reason?: string }[];
      }),
    );
    for (const [index, result] of results.entries()) {
      expect(result.state).toBe("succeeded");
      expect(result.record.node).toBe("survivor");
      expect(result.record.attempts?.[0]).toMatchObject({
        node: "cut-off",
        reason: expect.stringMatching(/died/),
      });
      const events = requeueEvents[index] ?? [];
      const requeued = events.find((event) => event.state === "queued" && event.reason?.includes("died"));
      expect(requeued).toBeDefined();
      // closed connection + suspect grace (500 ms) + one sweep: about 600 ms, where a node that only went
      // quiet is declared dead after deadAfterMs (5 s)
      expect((requeued?.at ?? 0) - cutAt).toBeLessThan(3000);
      expect(
        events.filter((event) => ["succeeded", "failed", "cancelled"].includes(event.state)),
      ).toHaveLength(1);
    }

    // Heal: the first node comes back; its stale runs are killed or fenced, never recorded.
    await partition.heal();
    await waitFor(
      async () => (await client.nodes()).find((node) => node.id === "cut-off")?.health === "healthy",
      {
        what: "the cut-off node to rejoin",
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const handle of handles) {
      const record = await client.task(handle.id);
      expect(record.state).toBe("succeeded");
      expect(record.node).toBe("survivor");
    }
  }, 30_000);
});
