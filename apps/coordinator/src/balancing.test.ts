import { planRebalance } from "@flotilla/scheduler";
import { describe, expect, it } from "vitest";
import { mayMigrate, rebalanceSources } from "./balancing.js";
import { type FleetNode, newFleetNode, slotsUsed, toNodeView } from "./fleet.js";

function node(id: string, slots: number, inflight: number, queued: number): FleetNode {
  const fleetNode = newFleetNode(id, 0);
  fleetNode.slots = slots;
  fleetNode.inflight = inflight;
  fleetNode.queued = queued;
  fleetNode.health = "healthy";
  return fleetNode;
}

/** What the scheduler plans for these nodes, their queues read as a rebalance reads them (64 at most). */
function planned(nodes: FleetNode[]): number {
  return planRebalance({
    nodes: nodes.map((fleetNode) => ({
      node: toNodeView(fleetNode, "closed"),
      queued: Array.from({ length: Math.min(64, fleetNode.queued) }, (_, index) => ({
        id: `${fleetNode.id}-${index}`,
        priority: "normal" as const,
        enqueuedAt: 0,
      })),
    })),
  }).length;
}

describe("mayMigrate", () => {
  it("skips the reads when every busy node holds an even queue, as 200 nodes with 100,000 queued do", () => {
    const even = Array.from({ length: 200 }, (_, index) => node(`n${index}`, 1, 1, 500));
    expect(mayMigrate(even)).toBe(false);
    expect(planned(even)).toBe(0);
  });

  it("skips them when nothing is queued anywhere", () => {
    const idle = [node("a", 2, 0, 0), node("b", 2, 2, 0)];
    expect(mayMigrate(idle)).toBe(false);
  });

  it("reads when a loaded node's queue could go to a node with room, as the scheduler would plan", () => {
    const skewed = [node("busy", 1, 1, 10), node("idle", 1, 0, 0)];
    expect(mayMigrate(skewed)).toBe(true);
    expect(planned(skewed)).toBeGreaterThan(0);
  });

  it("counts load per slot and at most the 64 queued tasks a plan reads", () => {
    // 32 running and 32 queued over 32 slots is 2 per slot against 1: not beyond the tolerance of 1.
    const wide = [node("wide", 32, 32, 32), node("narrow", 1, 1, 0)];
    expect(slotsUsed(wide[0] as FleetNode)).toBe(32);
    expect(mayMigrate(wide)).toBe(false);
    expect(planned(wide)).toBe(0);
    const deep = [node("deep", 1, 1, 10_000), node("shallow", 1, 1, 62)];
    expect(mayMigrate(deep)).toBe(true);
  });
});

describe("rebalanceSources", () => {
  it("reads the queues of the eight most loaded nodes with work queued, not of all 200", () => {
    const nodes = Array.from({ length: 200 }, (_, index) => node(`n${index}`, 1, 1, index % 50));
    const sources = rebalanceSources(nodes);
    expect(sources.size).toBe(8);
    // Four nodes each hold 49 queued and four 48: those eight.
    for (const id of sources) expect(Number(id.slice(1)) % 50).toBeGreaterThanOrEqual(48);
    expect(rebalanceSources([node("idle", 1, 0, 0), node("busy", 1, 1, 0)]).size).toBe(0);
  });
});
