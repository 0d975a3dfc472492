/**
 * Held assignments: work the coordinator sent ahead while every slot was busy (up to `prefetch` of them),
 * kept in arrival order and started the moment a slot frees up, with no round trip to the coordinator.
 * One that waits `maxHoldMs` is handed back (`task.reject` with `E_QUEUE_FULL`) so the coordinator can
 * place it again. This module owns the held list and its expiry timer; the wiring decides what is held.
 */
import type { ErrorCode, MessageOf, RunRef } from "@flotilla/protocol";
import type { Settings } from "./options.js";

/** An assignment taken while every slot was busy, and when it came. */
interface Held {
  assign: MessageOf<"task.assign">;
  since: number;
}

/** What held assignments need of the rest of the agent. */
export interface HeldHooks {
  /** Whether a slot is free for one more run now (false while draining). */
  canStart(): boolean;
  /** Starts an assignment in a free slot. */
  begin(assign: MessageOf<"task.assign">): void;
  /** Hands an assignment back to the coordinator. */
  reject(taskId: string, epoch: number, code: ErrorCode, reason: string): void;
  /** The slot count, for the reason given when a held assignment expires. */
  slots(): number;
}

/** The assignments waiting for a slot, oldest first. */
export class HeldAssignments {
  private readonly held = new Map<string, Held>();
  /** Hands back held assignments that waited `maxHoldMs`; set while anything is held. */
  private holdTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly hooks: HeldHooks,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** The held assignment of `taskId`, if any. */
  get(taskId: string): MessageOf<"task.assign"> | undefined {
    return this.held.get(taskId)?.assign;
  }

  /** A newer lease of a held task takes the old one's place in line. */
  replace(assign: MessageOf<"task.assign">): void {
    const waiting = this.held.get(assign.taskId);
    if (waiting !== undefined) waiting.assign = assign;
  }

  /** Every held assignment, oldest first. */
  assignments(): MessageOf<"task.assign">[] {
    return [...this.held.values()].map((h) => h.assign);
  }

  /** The assignments waiting for a slot, as leases this agent holds. */
  refs(): RunRef[] {
    return [...this.held.values()].map(({ assign: a }) => ({ taskId: a.taskId, epoch: a.epoch }));
  }

  /** Keeps an assignment until a slot frees up, for at most `maxHoldMs`. */
  hold(assign: MessageOf<"task.assign">): void {
    this.held.set(assign.taskId, { assign, since: this.settings.clock() });
    this.holdTimer ??= setTimeout(() => this.expire(), this.settings.maxHoldMs);
  }

  /** Forgets one held assignment (started, cancelled, or its lease is gone). */
  drop(taskId: string): void {
    this.held.delete(taskId);
    if (this.held.size === 0 && this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  /** Starts held assignments while slots are free. */
  startWaiting(): void {
    while (this.held.size > 0 && this.hooks.canStart()) {
      const [taskId, next] = this.held.entries().next().value as [string, Held];
      this.drop(taskId);
      this.hooks.begin(next.assign);
    }
  }

  /** Hands back every held assignment: the coordinator places them again. */
  release(code: ErrorCode, reason: string): void {
    for (const { assign } of this.held.values()) this.hooks.reject(assign.taskId, assign.epoch, code, reason);
    this.clear();
  }

  /** Forgets every held assignment without a word to the coordinator. */
  clear(): void {
    this.held.clear();
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /** Hands back what has waited `maxHoldMs` (every slot stayed busy: these tasks are better placed again). */
  private expire(): void {
    this.holdTimer = undefined;
    const now = this.settings.clock();
    const maxHoldMs = this.settings.maxHoldMs;
    for (const [taskId, waiting] of this.held) {
      const left = waiting.since + maxHoldMs - now;
      if (left > 0) {
        // Held in arrival order: the rest are younger.
        this.holdTimer = setTimeout(() => this.expire(), left);
        return;
      }
      this.held.delete(taskId);
      this.hooks.reject(
        taskId,
        waiting.assign.epoch,
        "E_QUEUE_FULL",
        `held ${now - waiting.since} ms while all ${this.hooks.slots()} slots stayed busy`,
      );
    }
  }
}
