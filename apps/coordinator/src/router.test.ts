import { TaskSpecSchema } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { type FleetNode, newFleetNode, toNodeView } from "./fleet.js";
import { Router } from "./router.js";

function node(
  id: string,
  queued: number,
  labels: Record<string, string> = {},
): { node: FleetNode; view: ReturnType<typeof toNodeView> } {
  const fleetNode = newFleetNode(id, 0);
  fleetNode.health = "healthy";
  fleetNode.slots = 2;
  fleetNode.queued = queued;
  fleetNode.labels = labels;
  return { node: fleetNode, view: toNodeView(fleetNode, "closed") };
}

const router = () =>
  new Router({
    strategy: "least_loaded",
    loadThreshold: 3,
    random: () => 0.5,
    maxQueuePerNode: 3,
    fairShareQuantumMs: 1000,
  });
const spec = (fields: Record<string, unknown>) =>
  TaskSpecSchema.parse({ kind: "exec", argv: ["true"], ...fields });

describe("Router", () => {
  it("says the fleet is full when every capable node's queue is at the bound", () => {
    const placement = router().place(spec({}), [node("a", 3), node("b", 5)], 0);
    expect(placement).toMatchObject({ kind: "full" });
    expect(router().place(spec({}), [node("a", 3), node("b", 2)], 0)).toMatchObject({
      kind: "node",
      node: "b",
    });
  });

  it("keeps a pinned task to its node and explains unmet needs", () => {
    expect(router().place(spec({ node: "b" }), [node("a", 0), node("b", 1)], 0)).toMatchObject({
      kind: "node",
      node: "b",
    });
    const waiting = router().place(spec({ needs: { gpu: true } }), [node("a", 0)], 0);
    expect(waiting).toMatchObject({ kind: "waiting" });
    expect((waiting as { reason: string }).reason).toMatch(/gpu=true/);
  });

  it("scores a submitter's burst after other submitters' work (start-time fair queuing)", () => {
    const fair = router();
    const nodes = [node("a", 0)];
    const burst = Array.from({ length: 5 }, () => fair.place(spec({ submitter: "bulk" }), nodes, 1000));
    const other = fair.place(spec({ submitter: "polite" }), nodes, 1000);
    const scores = burst.map((placement) => (placement as { score: number }).score);
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
    expect((other as { score: number }).score).toBeLessThan(scores[1] as number);
  });
});
