/**
 * The leases this coordinator knows of: which node runs which task under which epoch, since when, and
 * whether its submit is still being confirmed. `LeaseTable` owns the map and keeps each node's `inflight`
 * count in step when a lease ends; every add, removal, lookup and count goes through it. Dispatch, submit
 * (leases made in the submit script) and membership (runs an agent still holds after a reconnect) add
 * leases; run reports and the failure detector end them. Redis holds the durable truth (`running:{node}`
 * and each task's epoch): this is the in-memory picture used to fence stale reports without a round trip.
 */
import type { TaskSpec } from "@flotilla/protocol";
import type { FleetNode } from "./fleet.js";

/** One lease: task, node and epoch, with what the run reports need at hand. */
export interface LeaseInfo {
  node: string;
  epoch: number;
  attempt: number;
  spec: TaskSpec;
  leasedAt: number;
  startedAt: number | undefined;
  /**
   * Set while the lease was sent to its agent ahead of the submit script's reply: settles once the reply
   * has been handled (the submit answered, its events out). What the agent says about the run waits for it.
   */
  confirming: Promise<void> | undefined;
  /**
   * The task hash as this coordinator wrote it, kept for a task leased in its submit script that someone
   * waits for, with the number of events in the task's history it matches: its finish then need not read
   * the record back from Redis for `task.done` (the script returns it only if a change made elsewhere
   * came in between; see `knownEvents`).
   */
  record?: { hash: Readonly<Record<string, string | number>>; events: number } | undefined;
}

/** A lease record; every lease is built here, so they all share one shape. */
export function newLease(
  node: string,
  epoch: number,
  attempt: number,
  spec: TaskSpec,
  leasedAt: number,
  startedAt: number | undefined,
  confirming: Promise<void> | undefined,
): LeaseInfo {
  return { node, epoch, attempt, spec, leasedAt, startedAt, confirming };
}

/** The leases by task id. */
export class LeaseTable {
  private readonly byTask = new Map<string, LeaseInfo>();

  /** `nodes` is the fleet's node map, whose `inflight` counts follow the leases that end here. */
  constructor(private readonly nodes: ReadonlyMap<string, FleetNode>) {}

  get(taskId: string): LeaseInfo | undefined {
    return this.byTask.get(taskId);
  }

  has(taskId: string): boolean {
    return this.byTask.has(taskId);
  }

  /** Records a lease (the caller counts it in its node's `inflight`). */
  add(taskId: string, lease: LeaseInfo): void {
    this.byTask.set(taskId, lease);
  }

  /** Ends the lease on `taskId` if it is still the one of `epoch`, and frees its place on its node. */
  release(taskId: string, epoch: number): void {
    const lease = this.byTask.get(taskId);
    if (!lease || lease.epoch !== epoch) return;
    this.byTask.delete(taskId);
    const node = this.nodes.get(lease.node);
    if (node) node.inflight = Math.max(0, node.inflight - 1);
  }

  /**
   * Forgets a first lease that went out ahead of its submit script and is being taken back (the script
   * failed or found an older task); the caller gives the node's slot back.
   */
  withdrawEarly(taskId: string): void {
    const lease = this.byTask.get(taskId);
    if (lease?.epoch === 1 && lease.confirming) this.byTask.delete(taskId);
  }

  /** Settles when the lease on `taskId` went to its agent ahead of Redis's answer, once that is handled. */
  confirming(taskId: string): Promise<void> | undefined {
    return this.byTask.get(taskId)?.confirming;
  }

  /** Forgets every lease (Redis lost them: see `redis-emptied.ts`) and frees every node's places. */
  clear(): void {
    this.byTask.clear();
    for (const node of this.nodes.values()) node.inflight = 0;
  }

  /** How many leases `nodeId` holds. */
  countOn(nodeId: string): number {
    let count = 0;
    for (const lease of this.byTask.values()) if (lease.node === nodeId) count += 1;
    return count;
  }
}
