import { describe, expect, it } from "vitest";
import { createKeys, fleetHashTag } from "./keys.js";

describe("createKeys", () => {
  it("keeps the names other bridges use byte for byte", () => {
    const keys = createKeys();
    expect([
      keys.general,
      keys.events,
      keys.discoveryAnnounce,
      keys.discoveryQuery,
      keys.discoveryResponse,
      keys.agentMessages("mac1"),
      keys.agentHeartbeat("mac1"),
      keys.agentsActive,
      keys.agent("mac1"),
      keys.taskUpdates,
      keys.taskFailures,
      keys.taskDistribution,
    ]).toEqual([
      "agents:general",
      "agents:events",
      "agents:discovery:announce",
      "agents:discovery:query",
      "agents:discovery:response",
      "agent:mac1:messages",
      "agent:mac1:heartbeat",
      "agents:active",
      "agent:mac1",
      "events:tasks:updates",
      "events:errors:task_failures",
      "metrics:task_distribution",
    ]);
  });

  it("hash-tags a task's own keys so a Redis Cluster keeps them in one slot", () => {
    const keys = createKeys();
    expect([keys.task("t1"), keys.taskOutput("t1"), keys.taskEvents("t1")]).toEqual([
      "task:{t1}",
      "task:{t1}:output",
      "task:{t1}:events",
    ]);
    expect([
      keys.idempotency("k"),
      keys.queue("linux1"),
      keys.waitingQueue,
      keys.leases,
      keys.running("linux1"),
      keys.dlq,
      keys.tasksAll,
      keys.breaker("linux1"),
      keys.taskSeq,
    ]).toEqual([
      "idem:k",
      "queue:linux1",
      "queue:waiting",
      "leases",
      "running:linux1",
      "dlq",
      "tasks:all",
      "breaker:linux1",
      "seq:tasks",
    ]);
  });

  it("puts the prefix and a colon before every name", () => {
    const plain = createKeys();
    const prefixed = createKeys("p");
    expect(prefixed.prefix).toBe("p");
    for (const [name, value] of Object.entries(plain)) {
      if (name === "prefix") continue;
      const other = (prefixed as unknown as Record<string, unknown>)[name];
      if (typeof value === "function") {
        expect((other as (id: string) => string)("n1")).toBe(`p:${(value as (id: string) => string)("n1")}`);
      } else {
        expect(other).toBe(`p:${value}`);
      }
    }
  });

  it("refuses a node named like the shared waiting queue", () => {
    expect(() => createKeys().queue("waiting")).toThrow(RangeError);
  });
});

describe("fleetHashTag", () => {
  it("reads the tag Redis Cluster hashes, and finds none where a cluster would spread the keys", () => {
    expect(fleetHashTag("{fleet}")).toBe("fleet");
    expect(fleetHashTag("team-{a}")).toBe("a");
    expect(fleetHashTag("fleet")).toBeUndefined();
    expect(fleetHashTag("{}x")).toBeUndefined();
    expect(fleetHashTag("")).toBeUndefined();
  });

  it("puts every name of a fleet with a tagged prefix under that one tag, task names included", () => {
    const keys = createKeys("{fleet}");
    const names = Object.entries(keys).flatMap(([field, value]) => {
      if (field === "prefix") return [];
      return typeof value === "function" ? [(value as (id: string) => string)("{t1}")] : [value as string];
    });
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) expect([name, fleetHashTag(name)]).toEqual([name, "fleet"]);
  });
});
