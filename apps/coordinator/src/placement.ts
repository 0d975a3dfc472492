/**
 * Where a task goes. `TaskPlacement` asks the router (through @flotilla/scheduler) for a node or the
 * waiting list, turns the answer into the fields of a transition, and counts a placement on its node
 * until its write comes back. It changes a node's `queued`, `placing` and `settled` counts (the placement
 * side of the queue count that dispatch reads); submit, run reports, the failure detector, housekeeping
 * and client operations place tasks through it. It keeps no state of its own.
 */
import type { TaskSpec } from "@flotilla/protocol";
import type { CoordinatorContext, CoordinatorParts } from "./context.js";
import { type FleetNode, toNodeView } from "./fleet.js";
import type { Placement } from "./router.js";
import type { Transition } from "./store.js";

/** Chooses nodes for tasks and counts placements in flight. */
export class TaskPlacement {
  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: Pick<CoordinatorParts, "dispatch">,
  ) {}

  /**
   * Chooses where a task goes. `avoid` is the node a retry or requeue comes from: another node is preferred,
   * and the avoided one is used only when no other node can take the task.
   */
  place(spec: TaskSpec, now: number, avoid?: string): Placement {
    const ctx = this.ctx;
    const views = [];
    for (const node of ctx.nodes.values()) {
      views.push({ node, view: toNodeView(node, ctx.breakers.routingState(node.id, now)) });
    }
    let placement: Placement | undefined;
    if (avoid !== undefined) {
      const elsewhere = ctx.router.place(
        spec,
        views.filter((entry) => entry.node.id !== avoid),
        now,
      );
      if (elsewhere.kind === "node") placement = elsewhere;
    }
    placement ??= ctx.router.place(spec, views, now);
    // Count the task on its node at once, so decisions made before this write lands see it.
    if (placement.kind === "node") {
      const node = ctx.nodes.get(placement.node);
      if (node) {
        node.queued += 1;
        node.placing += 1;
      }
    }
    return placement;
  }

  /** The transition fields that put a task where `placement` says. */
  change(placement: Placement, now: number): Pick<Transition, "to" | "node" | "target" | "fields"> {
    const keys = this.ctx.keys.store;
    if (placement.kind === "node") {
      return {
        to: "queued",
        node: placement.node,
        target: { key: keys.queue(placement.node), score: placement.score },
        fields: { queuedAt: now, waitingReason: "", waitingIn: "", score: placement.score },
      };
    }
    return {
      to: "waiting",
      node: null,
      target: { key: keys.waiting(), score: now },
      fields: { waitingReason: placement.reason, waitingIn: "waiting" },
    };
  }

  /** After the write for a placement: dispatch on success, give the reserved queue place back otherwise. */
  settle(placement: Placement, written: boolean): void {
    if (placement.kind !== "node") return;
    const node = this.ctx.nodes.get(placement.node);
    if (node) this.landed(node);
    if (written) {
      this.ctx.guard(this.parts.dispatch.dispatch(placement.node));
      return;
    }
    if (node) node.queued = Math.max(0, node.queued - 1);
  }

  /** A placement's write on `node` came back (or failed). */
  private landed(node: FleetNode): void {
    node.placing = Math.max(0, node.placing - 1);
    node.settled += 1;
  }
}
