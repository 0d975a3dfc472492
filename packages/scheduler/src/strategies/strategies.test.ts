import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { makeNode, makeTask } from "../fixtures.js";
import { seededRandom } from "../random.js";
import type { NodeView } from "../types.js";
import { ConsistentHashStrategy } from "./hash.js";
import { createStrategy, STRATEGY_NAMES } from "./index.js";
import { isAvailable } from "./strategy.js";

const ctx = { now: 0, random: seededRandom(7) };

const nodeArb = fc.record({
  healthy: fc.boolean(),
  draining: fc.boolean(),
  breaker: fc.constantFrom("closed", "open", "half_open" as const),
  slotsTotal: fc.integer({ min: 1, max: 8 }),
  slotsUsed: fc.integer({ min: 0, max: 8 }),
  queued: fc.integer({ min: 0, max: 20 }),
  load1: fc.double({ min: 0, max: 8, noNaN: true }),
  ewmaRunMs: fc.integer({ min: 1, max: 10_000 }),
});

describe("strategy conformance", () => {
  for (const name of STRATEGY_NAMES) {
    test.prop([fc.array(nodeArb, { maxLength: 12 }), fc.string()], { numRuns: 60 })(
      `${name}: picks an available candidate, or none only when none is available`,
      (specs, key) => {
        const nodes = specs.map((spec, i) => makeNode(`n${i}`, spec as Partial<NodeView>));
        const strategy = createStrategy(name);
        expect(strategy.name).toBe(name);
        for (let round = 0; round < 3; round++) {
          const picked = strategy.select(nodes, makeTask(`t${round}`, { affinityKey: key }), ctx);
          if (picked === undefined) expect(nodes.some(isAvailable)).toBe(false);
          else {
            expect(nodes).toContain(picked);
            expect(isAvailable(picked)).toBe(true);
          }
        }
      },
    );
  }

  it("rejects unknown names and bad options", () => {
    expect(() => createStrategy("nope" as never)).toThrow(RangeError);
    expect(() => createStrategy("least_loaded", { loadThreshold: 0 })).toThrow(RangeError);
    expect(() => createStrategy("consistent_hash", { boundedLoadFactor: 0.5 })).toThrow(RangeError);
  });
});

describe("individual strategies", () => {
  const a = makeNode("a", { load1: 1.0, slotsTotal: 1, slotsUsed: 1 });
  const b = makeNode("b", { load1: 0.5, slotsTotal: 3 });
  const c = makeNode("c", { load1: 4.0, slotsUsed: 1 });
  const task = makeTask("t");

  it("least_loaded uses the threshold and the fallback node", () => {
    const strategy = createStrategy("least_loaded", { fallbackNodeId: "c" });
    expect(strategy.select([a, b, c], task, ctx)?.id).toBe("b");
    const busy = [
      { ...a, load1: 3.5 },
      { ...b, load1: 3.1 },
      { ...c, load1: 9 },
    ];
    expect(strategy.select(busy, task, ctx)?.id).toBe("c");
    expect(createStrategy("least_loaded").select(busy, task, ctx)?.id).toBe("b");
  });

  it("round robin cycles and smooth weighted round robin interleaves by weight", () => {
    const rr = createStrategy("round_robin");
    expect([0, 1, 2, 3].map(() => rr.select([a, b, c], task, ctx)?.id)).toEqual(["a", "b", "c", "a"]);
    const swrr = createStrategy("smooth_weighted_round_robin");
    expect([0, 1, 2, 3].map(() => swrr.select([a, b], task, ctx)?.id)).toEqual(["b", "a", "b", "b"]);
  });

  it("least connections, capacity and performance prefer the expected node", () => {
    expect(createStrategy("least_connections").select([a, b, c], task, ctx)?.id).toBe("b");
    expect(createStrategy("capacity").select([a, b, c], task, ctx)?.id).toBe("b");
    const fast = makeNode("fast", { ewmaRunMs: 100, queued: 2 });
    const slow = makeNode("slow", { ewmaRunMs: 1000 });
    expect(createStrategy("performance").select([slow, fast], task, ctx)?.id).toBe("fast");
    expect(createStrategy("p2c").select([a, b], task, ctx)?.id).toBe("b");
  });

  it("consistent hashing keeps a key on its node unless that node is over the load bound", () => {
    const strategy = new ConsistentHashStrategy();
    const nodes = ["n1", "n2", "n3", "n4"].map((id) => makeNode(id));
    const keyed = makeTask("t", { affinityKey: "repo-x" });
    const first = strategy.select(nodes, keyed);
    expect(strategy.select(nodes, makeTask("u", { affinityKey: "repo-x" }))).toBe(first);
    const loaded = nodes.map((node) => (node === first ? { ...node, queued: 10 } : node));
    expect(strategy.select(loaded, keyed)?.id).not.toBe(first?.id);
  });

  test.prop([fc.integer({ min: 3, max: 20 }), fc.integer({ min: 0, max: 1000 })], { numRuns: 20 })(
    "consistent hashing moves only about 1/n keys when a node joins",
    (count, salt) => {
      // One instance per membership: each caches its ring.
      const before = new ConsistentHashStrategy({ virtualNodes: 128 });
      const after = new ConsistentHashStrategy({ virtualNodes: 128 });
      const ids = Array.from({ length: count }, (_, i) => `node-${salt}-${i}`);
      const joined = [...ids, `node-${salt}-new`];
      const keys = 3000;
      let moved = 0;
      for (let k = 0; k < keys; k++) {
        const from = before.ownerOf(ids, `key-${k}`);
        const to = after.ownerOf(joined, `key-${k}`);
        if (from !== to) {
          moved++;
          expect(to).toBe(`node-${salt}-new`);
        }
      }
      const expected = 1 / (count + 1);
      expect(moved / keys).toBeLessThan(expected * 1.6 + 0.01);
      expect(moved / keys).toBeGreaterThan(expected * 0.4);
    },
  );
});
