/**
 * Connections. A `Session` is one WebSocket of an agent or a client; `SessionRegistry` owns the set of open
 * ones and which connection speaks for each node. The transport adds and removes sessions as sockets open
 * and close; membership binds a node's connection on its hello; the transport (on close) and the failure
 * detector (on a dead node) unbind it. Everyone else only looks sessions up.
 */
import type { FrameOutbox } from "@flotilla/protocol";
import type { WebSocket } from "ws";
import type { AgentClock } from "../agent-clock.js";
import type { Principal } from "../auth.js";
import type { TokenBucket } from "./token-bucket.js";

/** Which endpoint a connection came in on. */
export type Role = "agent" | "client";

/** One open WebSocket connection. */
export interface Session {
  readonly socket: WebSocket;
  readonly role: Role;
  readonly principal: Principal;
  readonly label: string;
  nodeId: string | undefined;
  violations: number;
  watching: Set<string>;
  /** Tasks submitted with `wait` on this connection that have not ended yet. */
  awaiting: Set<string>;
  /** Frames waiting for the end of this event-loop turn (see `Outgoing.sendRaw`). */
  outbox: FrameOutbox;
  /** The agent's clock against this process's: the times it reports are recorded through it. */
  clock: AgentClock;
  /** The frames this connection may still send now (see `ConnectionLimits`). */
  frameBudget: TokenBucket;
  /** The key its token's limits are kept under (`tokenKey`). */
  tokenKey: string;
}

/** The open connections, and the one that speaks for each node. */
export class SessionRegistry {
  private readonly open = new Set<Session>();
  private readonly agents = new Map<string, Session>();
  private counter = 0;

  /** A label for the next connection of `role`, for logs. */
  nextLabel(role: Role): string {
    this.counter += 1;
    return `${role}-${this.counter.toString(36)}`;
  }

  add(session: Session): void {
    this.open.add(session);
  }

  remove(session: Session): void {
    this.open.delete(session);
  }

  /** Every open connection (for shutdown). */
  all(): IterableIterator<Session> {
    return this.open.values();
  }

  /** The connection that speaks for `nodeId`, if its agent is connected. */
  agent(nodeId: string): Session | undefined {
    return this.agents.get(nodeId);
  }

  /** The connection of every connected agent. */
  agentSessions(): IterableIterator<Session> {
    return this.agents.values();
  }

  /** From now on `session` speaks for `nodeId` (its hello was accepted). */
  bindAgent(nodeId: string, session: Session): void {
    this.agents.set(nodeId, session);
  }

  /** `nodeId` has no connection any more. */
  unbindAgent(nodeId: string): void {
    this.agents.delete(nodeId);
  }
}
