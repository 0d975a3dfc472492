import { connect, type FlotillaClient } from "@flotilla/client";
import { type Agent, createAgent } from "@flotilla/node-agent";
import { fleetHashTag } from "@flotilla/protocol";
import { type RedisClusterSet, redisCli, startRedisCluster } from "@flotilla/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../src/index.js";
import { testCoordinator, testFingerprint } from "./fleet.js";

/** One fleet on the cluster: its coordinator, an agent and a client, all under `prefix`. */
interface ClusterFleet {
  coordinator: Coordinator;
  agent: Agent;
  client: FlotillaClient;
}

async function startClusterFleet(cluster: RedisClusterSet, prefix: string): Promise<ClusterFleet> {
  const coordinator = testCoordinator("redis://ignored-on-a-cluster:1", {
    redisConnection: { cluster: cluster.addresses },
    prefix,
  });
  await coordinator.start();
  const agent = createAgent({
    coordinatorUrl: coordinator.url,
    token: "test-token",
    id: `node-${fleetHashTag(prefix)}`,
    slots: 4,
    logger: pino({ level: "silent" }),
    fingerprint: testFingerprint(),
  });
  await agent.start();
  const client = await connect({ url: coordinator.url, token: "test-token" });
  return { coordinator, agent, client };
}

/** Every key on every primary of the cluster, with the port of the primary holding it. */
async function clusterKeys(cluster: RedisClusterSet): Promise<{ key: string; port: number }[]> {
  const found: { key: string; port: number }[] = [];
  for (const { port } of cluster.addresses) {
    const out = await redisCli(["-p", String(port), "--scan"]);
    for (const key of out.split("\n").filter(Boolean)) found.push({ key, port });
  }
  return found;
}

describe("Redis Cluster: a fleet under one hash tag", () => {
  let cluster: RedisClusterSet;
  const fleets: ClusterFleet[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);

  afterAll(async () => {
    for (const fleet of fleets) {
      fleet.client.close();
      await fleet.agent.stop({ now: true });
      await fleet.coordinator.stop();
    }
    await cluster?.dispose();
  });

  it("runs work end to end, two fleets side by side, each fleet's keys in its own one slot", async () => {
    fleets.push(await startClusterFleet(cluster, "{alpha}"));
    fleets.push(await startClusterFleet(cluster, "{beta}"));
    for (const [i, fleet] of fleets.entries()) {
      const handles = [];
      for (let n = 0; n < 10; n += 1) {
        handles.push(
          await fleet.client.submit({ kind: "exec", argv: ["sh", "-c", `echo fleet-${i}-task-${n}`] }),
        );
      }
      for (const handle of handles) {
        const result = await handle.result();
        expect(result.state).toBe("succeeded");
      }
      expect((await fleet.client.nodes()).map((node) => node.id)).toEqual([
        `node-${i === 0 ? "alpha" : "beta"}`,
      ]);
    }

    const keys = await clusterKeys(cluster);
    const homes: number[] = [];
    for (const tag of ["alpha", "beta"]) {
      const mine = keys.filter(({ key }) => key.startsWith(`{${tag}}:`));
      expect(mine.some(({ key }) => key.includes(":task:"))).toBe(true);
      expect(mine.some(({ key }) => key.endsWith(":agents:active"))).toBe(true);
      // One primary holds the whole fleet, and Redis puts each of its keys in the tag's slot.
      expect(new Set(mine.map(({ port }) => port)).size).toBe(1);
      homes.push(mine[0]?.port ?? 0);
      const slot = (await redisCli(["-p", String(mine[0]?.port), "cluster", "keyslot", `{${tag}}`])).trim();
      for (const { key, port } of mine.slice(0, 50)) {
        expect((await redisCli(["-p", String(port), "cluster", "keyslot", key])).trim()).toBe(slot);
      }
    }
    // Slots 865 and 15419: the first and the last of the three primaries, so the fleets spread over shards.
    expect(homes[0]).not.toBe(homes[1]);
    // Nothing of either fleet outside its tag.
    expect(keys.filter(({ key }) => !/^\{(alpha|beta)\}:/.test(key))).toEqual([]);
  }, 120_000);

  it("refuses a prefix without a hash tag, and --redis-wait-replicas, on a cluster", () => {
    expect(() =>
      testCoordinator("redis://ignored:1", { redisConnection: { cluster: cluster.addresses }, prefix: "fl" }),
    ).toThrow(/--prefix "\{fleet\}"/);
    expect(() =>
      testCoordinator("redis://ignored:1", {
        redisConnection: { cluster: cluster.addresses },
        prefix: "{f}",
        redisWaitReplicas: 1,
      }),
    ).toThrow(/not with --redis-cluster/);
  });
});
