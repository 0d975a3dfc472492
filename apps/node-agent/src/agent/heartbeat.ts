/**
 * The agent's periodic messages: the heartbeat (status, load and the leases it holds, every
 * `heartbeatIntervalMs` of the welcome) and the short tick that drains queued run messages as the socket
 * empties and asks to steal work once slots have been free with nothing assigned for `stealIdleMs`.
 * This module owns both timers and the steal bookkeeping.
 */
import type { RunRef } from "@flotilla/protocol";
import { sampleLoad } from "../fingerprint.js";
import type { NodeState } from "./node-state.js";
import type { Settings } from "./options.js";
import type { RunOutbox } from "./run-outbox.js";

/** What the heartbeat reads from the rest of the agent. */
export interface HeartbeatSource {
  /** Runs holding a slot now. */
  activeCount(): number;
  /** The leases this agent holds: runs going on and assignments waiting for a slot. */
  running(): RunRef[];
  /** Sends queued run messages as the socket allows. */
  flushRuns(): void;
  /** Pings the coordinator, whose pong shows the link is alive (it sends nothing of its own when idle). */
  ping(): void;
}

/** Heartbeats and the idle tick. */
export class Heartbeat {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private lastAssignAt = 0;
  private lastStealAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: Settings,
    private readonly node: NodeState,
    private readonly outbox: RunOutbox,
    private readonly source: HeartbeatSource,
  ) {}

  /** Work came (or a session began): the idle time before a steal request counts from now. */
  assigned(): void {
    this.lastAssignAt = this.settings.clock();
  }

  /** A session was welcomed: heartbeats every `heartbeatIntervalMs`, the first one now. */
  startBeating(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.send(), this.node.heartbeatIntervalMs);
    this.send();
  }

  /** The session is gone: no heartbeats until the next welcome. */
  stopBeating(): void {
    clearInterval(this.heartbeatTimer);
  }

  /** Starts the tick (once the agent is up). */
  startTicking(): void {
    this.tickTimer = setInterval(() => this.tick(), Math.max(10, Math.min(100, this.settings.stealIdleMs)));
  }

  /** Stops both timers for good. */
  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.tickTimer);
  }

  /** Sends a heartbeat now, if a welcomed session is open. */
  send(): void {
    if (!this.outbox.welcomed) return;
    const node = this.node;
    const used = this.source.activeCount();
    this.outbox.sendNow(
      this.outbox.frame("heartbeat", {
        capabilities: node.capabilities,
        status: node.draining ? "offline" : used >= node.slots ? "busy" : "ready",
        load: sampleLoad(used, node.slots),
        running: this.source.running(),
      }).text,
    );
    this.source.ping();
  }

  /** The 100 ms tick: drains queued run messages as the socket empties, and asks for work when idle. */
  private tick(): void {
    this.source.flushRuns();
    this.maybeSteal();
  }

  /** Asks for stolen work when slots have been free and nothing was assigned for a while. */
  private maybeSteal(): void {
    if (!this.outbox.welcomed || this.node.draining) return;
    const free = this.node.slots - this.source.activeCount();
    const now = this.settings.clock();
    if (
      free <= 0 ||
      now - this.lastAssignAt < this.settings.stealIdleMs ||
      now - this.lastStealAt < this.settings.stealIntervalMs
    )
      return;
    this.lastStealAt = now;
    this.outbox.sendNow(this.outbox.frame("steal.request", { freeSlots: free }).text);
  }
}
