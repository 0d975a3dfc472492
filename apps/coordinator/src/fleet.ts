import type { Fingerprint, NodeLoad, NodeStatus } from "@flotilla/protocol";
import type { NodeView } from "@flotilla/scheduler";
import { handlerCapability, nodeCapability } from "./router.js";

/** How the coordinator sees a node's liveness. */
export type NodeHealth = "healthy" | "suspect" | "dead";

/** The coordinator's in-memory picture of one node; Redis holds the durable part. */
export interface FleetNode {
  id: string;
  host: string;
  version: string;
  fingerprint: Fingerprint | undefined;
  labels: Record<string, string>;
  capabilities: string[];
  handlers: Set<string>;
  slots: number;
  /** Assignments the agent holds beyond its slots (its hello's `prefetch`; 0 for agents that hold none). */
  prefetch: number;
  /** Tasks leased to or running on the node, as the coordinator counts them (held ones included). */
  inflight: number;
  /** Tasks in the node's Redis queue, as the coordinator counts them (placements not yet written included). */
  queued: number;
  /** Placements on this node whose write has not come back yet. */
  placing: number;
  /** Of those, the ones being leased in their submit script (counted in `inflight` too). */
  leasing: number;
  /** Leases a dispatch has asked Redis for and not heard back about (it may get fewer). */
  reserved: number;
  /**
   * Placements on this node's queue whose write came back (or failed), ever: a dispatch compares it before
   * and after its lease. (Tasks leased in their submit script are not among them: they never queue.)
   */
  settled: number;
  load: NodeLoad | undefined;
  status: NodeStatus;
  health: NodeHealth;
  draining: boolean;
  lastHeartbeatAt: number;
  /** When its connection closed; the failure detector declares it dead after the suspect grace. */
  disconnectedAt: number | undefined;
  /** Smoothed run time of tasks on this node (ms). */
  ewmaRunMs: number | undefined;
  /** Per-node counters for listings and the demo summary. */
  stats: { finished: number; steals: number; reroutes: number };
}

/** A node the coordinator learns about for the first time (hello, or recovery from Redis). */
export function newFleetNode(id: string, now: number): FleetNode {
  return {
    id,
    host: id,
    version: "unknown",
    fingerprint: undefined,
    labels: {},
    capabilities: [],
    handlers: new Set(),
    slots: 1,
    prefetch: 0,
    inflight: 0,
    queued: 0,
    placing: 0,
    leasing: 0,
    reserved: 0,
    settled: 0,
    load: undefined,
    status: "offline",
    health: "suspect",
    draining: false,
    lastHeartbeatAt: now,
    disconnectedAt: now,
    ewmaRunMs: undefined,
    stats: { finished: 0, steals: 0, reroutes: 0 },
  };
}

/**
 * How many leases a node may hold at once: its slots, plus assignments its agent holds ahead (no more than
 * its hello offered) worth about `holdAheadMs` of work per slot at its tasks' smoothed run time. Tiny tasks
 * get a deep pipeline, so a slot never waits for the round trip from a finish to the next assignment;
 * tasks longer than `slots * holdAheadMs` get none, so an idle node can still steal them and an urgent
 * task can overtake them.
 */
export function leaseCapacity(node: FleetNode, holdAheadMs: number): number {
  if (holdAheadMs <= 0 || node.prefetch === 0 || node.ewmaRunMs === undefined) return node.slots;
  const ahead = node.ewmaRunMs <= 0 ? node.prefetch : Math.floor((node.slots * holdAheadMs) / node.ewmaRunMs);
  return node.slots + Math.min(node.prefetch, ahead);
}

/**
 * A held assignment came back unstarted: the node's slots are busy with longer work than its smoothed
 * run time said. It gets nothing held ahead until short finishes bring that figure down again.
 */
export function stopHoldingAhead(node: FleetNode, holdAheadMs: number): void {
  node.ewmaRunMs = Math.max(node.ewmaRunMs ?? 0, 2 * node.slots * holdAheadMs);
}

/** Slots in use: leases beyond the slots are held by the agent, not running. */
export function slotsUsed(node: FleetNode): number {
  return Math.min(node.inflight, node.slots);
}

/** Tasks in (or on their way to) the node's Redis queue: `queued` but for those leased in their submit. */
export function inQueue(node: FleetNode): number {
  return node.queued - node.leasing;
}

/**
 * Work waiting for the node: its Redis queue and what its agent holds ahead (queued work to placement).
 * A task being leased in its submit script is counted once, as held (it is in `queued` and `inflight`).
 */
export function queuedOn(node: FleetNode): number {
  return inQueue(node) + Math.max(0, node.inflight - node.slots);
}

/** The view of a node that @flotilla/scheduler's placement and strategies take. */
export function toNodeView(node: FleetNode, breaker: "closed" | "open" | "half_open"): NodeView {
  const fixed = fixedView(node);
  const view: NodeView = {
    id: node.id,
    capabilities: fixed.capabilities,
    attributes: fixed.attributes,
    slotsTotal: node.slots,
    slotsUsed: slotsUsed(node),
    queued: queuedOn(node),
    load1: node.load?.load1 ?? 0,
    healthy: node.health === "healthy",
    draining: node.draining,
    breaker,
  };
  if (node.ewmaRunMs !== undefined) view.ewmaRunMs = node.ewmaRunMs;
  if (node.load?.memoryFreeBytes !== undefined) view.freeMemoryBytes = node.load.memoryFreeBytes;
  return view;
}

/** The parts of a node's view that change only with its hello or heartbeat, and what they were made from. */
interface FixedView {
  capabilities: string[];
  attributes: NodeView["attributes"];
  from: readonly [string[], Set<string>, FleetNode["fingerprint"], Record<string, string>, number];
}

const fixedViews = new WeakMap<FleetNode, FixedView>();

/**
 * The capabilities and attributes of a node's view, built again only when the fields they come from were
 * replaced (a hello or heartbeat assigns new ones; nothing changes them in place). Every placement takes
 * a view of every node: building these each time was a twentieth of what the coordinator allocated.
 */
function fixedView(node: FleetNode): FixedView {
  const cached = fixedViews.get(node);
  const from = cached?.from;
  if (
    from !== undefined &&
    from[0] === node.capabilities &&
    from[1] === node.handlers &&
    from[2] === node.fingerprint &&
    from[3] === node.labels &&
    from[4] === node.slots
  ) {
    return cached as FixedView;
  }
  const fingerprint = node.fingerprint;
  const built: FixedView = {
    capabilities: [
      ...node.capabilities,
      nodeCapability(node.id),
      ...[...node.handlers].map(handlerCapability),
    ],
    attributes: {
      os: fingerprint?.os ?? "unknown",
      arch: fingerprint?.arch ?? "unknown",
      cores: fingerprint?.cores ?? node.slots,
      memoryBytes: fingerprint?.memoryBytes ?? 0,
      docker: fingerprint?.docker.available ?? node.capabilities.includes("docker"),
      freeDiskBytes: fingerprint?.freeDiskBytes ?? 0,
      labels: node.labels,
    },
    from: [node.capabilities, node.handlers, node.fingerprint, node.labels, node.slots],
  };
  fixedViews.set(node, built);
  return built;
}

/** A node as discovery and the Redis registry's bridges describe it. */
export interface NodeSummary {
  id: string;
  host: string;
  capabilities: string[];
  status: "ready" | "busy" | "offline";
}

export function nodeSummary(node: FleetNode): NodeSummary {
  return {
    id: node.id,
    host: node.host,
    capabilities: node.capabilities,
    status: node.health === "dead" ? "offline" : node.status,
  };
}

/** Live nodes that have every capability in `wanted` (all of them when nothing is wanted). */
export function discoverable(
  nodes: Iterable<FleetNode>,
  wanted: readonly string[] | undefined,
): NodeSummary[] {
  const found: NodeSummary[] = [];
  for (const node of nodes) {
    if (node.health === "dead") continue;
    if ((wanted ?? []).every((capability) => node.capabilities.includes(capability)))
      found.push(nodeSummary(node));
  }
  return found;
}

/** A node as `nodes.list` (and so `flotilla nodes`) shows it. */
export interface NodeListing extends NodeSummary {
  /** The agent's version. */
  version: string;
  os: string;
  arch: string;
  slotsTotal: number;
  slotsUsed: number;
  load1: number;
  health: NodeHealth;
  breaker: "closed" | "open" | "half_open";
  draining: boolean;
  labels: Record<string, string>;
  queued: number;
  stats: FleetNode["stats"];
  /** Memory of the machine and what of it was free at the last heartbeat, bytes (0 when unknown). */
  memoryBytes: number;
  memoryFreeBytes: number;
  /** When the coordinator last heard from the node's agent (epoch ms), for the heartbeat's age. */
  lastHeartbeatAt: number;
}

export function nodeListing(node: FleetNode, breaker: NodeListing["breaker"]): NodeListing {
  return {
    id: node.id,
    host: node.host,
    version: node.version,
    os: node.fingerprint?.os ?? "unknown",
    arch: node.fingerprint?.arch ?? "unknown",
    slotsTotal: node.slots,
    slotsUsed: slotsUsed(node),
    load1: node.load?.load1 ?? 0,
    status: node.health === "dead" ? "offline" : node.status,
    health: node.health,
    breaker,
    draining: node.draining,
    labels: node.labels,
    capabilities: node.capabilities,
    queued: node.queued,
    stats: node.stats,
    memoryBytes: node.fingerprint?.memoryBytes ?? 0,
    memoryFreeBytes: node.load?.memoryFreeBytes ?? 0,
    lastHeartbeatAt: node.lastHeartbeatAt,
  };
}
