/**
 * The WebSocket side of the server. `Transport` accepts upgrades on `/v1/agent` and `/v1/client` (token
 * checked), decodes each frame, checks that the sender's role may send it (one handler table per role)
 * and that an agent speaks only for its own node, counts violations, and runs the handler. Frames about
 * one task from an agent run in the order they came (a chain per task, which it owns); others run at once.
 * On a close it forgets the connection and tells the failure detector. It owns the WebSocket server and
 * the task chains; sessions are added and removed here.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import {
  decode,
  FlotillaError,
  FrameOutbox,
  type Message,
  PROTOCOL_HEADER,
  protocolRefusal,
  type RawFrame,
  REFUSAL_HEADER,
  toFlotillaError,
  WS_SUBPROTOCOL,
} from "@flotilla/protocol";
import { WebSocketServer } from "ws";
import { forbidden, frameMasks, inMask } from "../access.js";
import { AgentClock } from "../agent-clock.js";
import { upgradeToken } from "../auth.js";
import type { CoordinatorContext, CoordinatorParts } from "../context.js";
import { COORDINATOR_VERSION } from "../version.js";
import { agentHandlers, refuseVersion } from "./agent-handlers.js";
import { clientHandlers } from "./client-handlers.js";
import type { FrameHandler, HandlerTable } from "./handlers.js";
import { ConnectionLimits, tokenKey } from "./limits.js";
import type { Role, Session } from "./session.js";

/** The frames about one task that are being handled or wait their turn (see `onFrame`). */
interface TaskChain {
  readonly taskId: string;
  /** The last of them; the next frame starts after it. */
  tail: Promise<void> | undefined;
  /** How many have not ended yet: the chain is dropped at 0. */
  frames: number;
}

/** Connections, frames in, and which module handles each. */
export class Transport {
  private wss: WebSocketServer | undefined;
  /** Frames of one task still to be handled, in order (see `onFrame`). */
  private readonly taskChains = new Map<string, TaskChain>();
  private readonly agentTable: HandlerTable;
  private readonly clientTable: HandlerTable;
  private readonly limits: ConnectionLimits;
  /** Looks for slow consumers (see `closeSlowConsumers`). */
  private slowConsumerTimer: NodeJS.Timeout | undefined;
  /** The scopes allowed each frame type, per endpoint (from access.ts). */
  private readonly agentAccess = frameMasks("agent");
  private readonly clientAccess = frameMasks("client");

  constructor(
    private readonly ctx: CoordinatorContext,
    private readonly parts: CoordinatorParts,
  ) {
    this.agentTable = agentHandlers(ctx, parts, (session, error, replyTo) =>
      this.violation(session, error, replyTo),
    );
    this.clientTable = clientHandlers(ctx, parts);
    this.limits = new ConnectionLimits(ctx.options, ctx.metrics, ctx.options.clock);
  }

  /** Takes the WebSocket upgrades of `server`. */
  attach(server: Server): void {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.ctx.options.maxFrameBytes,
      // A browser that offers subprotocols (its token among them) must be answered with one of them.
      handleProtocols: (offered) => (offered.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
    });
    server.on("upgrade", (request, socket, head) => this.handleUpgrade(request, socket, head));
    this.slowConsumerTimer = setInterval(() => this.closeSlowConsumers(), SLOW_CONSUMER_CHECK_MS);
    this.slowConsumerTimer.unref();
  }

  /**
   * Closes (1008) every connection whose unsent bytes are over the limit: a peer that stopped reading is
   * let go rather than buffered for without end. A sweep, so the send path pays nothing for it.
   */
  closeSlowConsumers(): void {
    for (const session of this.ctx.sessions.all()) {
      if (!this.limits.tooSlow(session.socket.bufferedAmount)) continue;
      this.ctx.log.warn({ session: session.label }, "closing a connection that does not read its frames");
      session.socket.close(1008, "slow consumer: too many bytes unsent");
      // The close frame waits behind the unsent bytes; a peer that reads none of them is cut off.
      setTimeout(() => session.socket.terminate(), SLOW_CONSUMER_CHECK_MS).unref();
    }
  }

  /**
   * Closes every connection, keeping the server: each peer connects again and starts afresh (agents say
   * hello, clients watch again), as after an emptied Redis.
   */
  closeSessions(code: number, reason: string): void {
    for (const session of this.ctx.sessions.all()) session.socket.close(code, reason);
  }

  /** Closes every connection at once (the server's close waits for them, and does not close upgraded ones). */
  close(): void {
    for (const session of this.ctx.sessions.all()) session.socket.terminate();
    clearInterval(this.slowConsumerTimer);
    this.wss?.close();
  }

  private handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.ctx;
    const url = new URL(request.url ?? "/", "http://coordinator");
    const role: Role | undefined =
      url.pathname === "/v1/agent" ? "agent" : url.pathname === "/v1/client" ? "client" : undefined;
    // A standby serves no agents or clients: its 503 sends them on to the next coordinator they know.
    if (role === undefined || ctx.stopping || ctx.role !== "active") {
      rejectUpgrade(
        socket,
        role === undefined ? 404 : 503,
        role === undefined ? "Not Found" : "Service Unavailable",
      );
      return;
    }
    const principal = ctx.authority.authenticate(upgradeToken(request));
    // Any valid token may connect: what it may send is checked frame by frame against the access table.
    if (principal === undefined) {
      rejectUpgrade(socket, 401, "Unauthorized");
      return;
    }
    // A client says its protocol version in its upgrade (its hello); one this coordinator cannot serve
    // is refused here, with why in a header its library shows.
    if (role === "client") {
      const said = request.headers[PROTOCOL_HEADER];
      const protocol = typeof said === "string" && /^\d+$/.test(said) ? Number(said) : undefined;
      const refusal = protocolRefusal({ role, protocol }, `flotilla-coordinator ${COORDINATOR_VERSION}`);
      if (refusal !== undefined) {
        rejectUpgrade(socket, 426, "Upgrade Required", { [REFUSAL_HEADER]: refusal });
        return;
      }
    }
    const key = tokenKey(principal);
    if (!this.limits.mayConnect(key)) {
      rejectUpgrade(socket, 429, "Too Many Requests");
      return;
    }
    this.wss?.handleUpgrade(request, socket, head, (ws) => {
      const session: Session = {
        socket: ws,
        role,
        principal,
        label: ctx.sessions.nextLabel(role),
        nodeId: undefined,
        violations: 0,
        watching: new Set(),
        awaiting: new Set(),
        outbox: new FrameOutbox(ws),
        clock: new AgentClock(),
        frameBudget: this.limits.frameBucket(),
        tokenKey: key,
      };
      ctx.sessions.add(session);
      this.limits.opened(key);
      ws.on("message", (data: RawFrame) => this.onFrame(session, data));
      ws.on("close", () => this.onClose(session));
      ws.on("error", (error) =>
        ctx.log.debug({ err: error.message, session: session.label }, "socket error"),
      );
    });
  }

  private onFrame(session: Session, data: RawFrame): void {
    const result = decode(data, { maxBytes: this.ctx.options.maxFrameBytes });
    if (!result.ok) {
      const version = result.error.details?.version;
      // An agent's hello in another wire version: it cannot be served, so it is told why and let go.
      if (
        result.error.code === "E_VERSION" &&
        typeof version === "number" &&
        session.role === "agent" &&
        session.nodeId === undefined
      ) {
        const peer = { role: session.role, protocol: version };
        const refusal = protocolRefusal(peer, `flotilla-coordinator ${COORDINATOR_VERSION}`);
        if (refusal !== undefined) {
          refuseVersion(this.ctx, session, refusal, frameId(data));
          return;
        }
      }
      this.violation(session, result.error, result.error.code === "E_BAD_JSON" ? undefined : frameId(data));
      return;
    }
    const frame = result.message;
    if (!this.withinLimits(session, frame)) return;
    const handler = (session.role === "agent" ? this.agentTable : this.clientTable).get(frame.type);
    if (handler === undefined) {
      this.violation(
        session,
        new FlotillaError("E_UNKNOWN_TYPE", `${session.role}s may not send ${frame.type}`, {
          details: { type: frame.type },
        }),
        frame.id,
      );
      return;
    }
    const isAgent = session.role === "agent";
    if (!inMask((isAgent ? this.agentAccess : this.clientAccess).get(frame.type), session.principal.scope)) {
      this.refuse(
        session,
        forbidden(session.principal, `send ${frame.type} on /v1/${session.role}`),
        frame.id,
      );
      return;
    }
    if (isAgent && frame.type !== "agent.hello") {
      if (session.nodeId === undefined) {
        this.violation(session, new FlotillaError("E_UNAUTHORIZED", "send agent.hello first"), frame.id);
        return;
      }
      if (frame.from !== session.nodeId) {
        this.violation(
          session,
          new FlotillaError(
            "E_UNAUTHORIZED",
            `this connection speaks for ${session.nodeId}, not ${frame.from}`,
          ),
          frame.id,
        );
        return;
      }
    }
    // Frames about one run (accept, output, finish) are applied in the order the agent sent them; frames
    // about different tasks proceed concurrently, so Redis round trips overlap.
    const taskId = isAgent && "taskId" in frame ? frame.taskId : undefined;
    if (taskId === undefined) {
      void this.runFrame(session, frame, handler, undefined, undefined);
      return;
    }
    // A report on a run leased to another node under the same or a newer epoch is not this agent's to make
    // (an older epoch is only stale: its handler fences it as before).
    const lease = this.ctx.leases.get(taskId);
    if (
      lease !== undefined &&
      lease.node !== session.nodeId &&
      "epoch" in frame &&
      (frame.epoch ?? lease.epoch) >= lease.epoch
    ) {
      this.ctx.metrics.foreignFrames.inc();
      this.refuse(
        session,
        forbidden(session.principal, `report on ${taskId}`, `it is leased to another node`),
        frame.id,
      );
      return;
    }
    let chain = this.taskChains.get(taskId);
    if (!chain) {
      chain = { taskId, tail: undefined, frames: 0 };
      this.taskChains.set(taskId, chain);
    }
    chain.frames += 1;
    chain.tail = this.runFrame(session, frame, handler, chain, chain.tail);
  }

  /**
   * Handles one frame, after the frames before it in its task's chain. One async function per frame,
   * never rejecting: an error goes back to the sender as an `error` frame.
   */
  private async runFrame(
    session: Session,
    frame: Message,
    handler: FrameHandler,
    chain: TaskChain | undefined,
    previous: Promise<void> | undefined,
  ): Promise<void> {
    const ctx = this.ctx;
    ctx.underway.enter();
    try {
      if (previous) await previous;
      await handler(session, frame);
    } catch (error) {
      const failure = toFlotillaError(error);
      if (failure.code === "E_INTERNAL")
        ctx.log.error({ err: failure.message, type: frame.type }, "handler failed");
      ctx.out.error(session, failure, frame.id);
    } finally {
      if (chain) {
        chain.frames -= 1;
        if (chain.frames === 0 && this.taskChains.get(chain.taskId) === chain)
          this.taskChains.delete(chain.taskId);
      }
      ctx.underway.leave();
    }
  }

  /**
   * Whether a frame is within the connection's and its token's limits; one that is not is answered with
   * `E_RATE_LIMITED` and counts as a violation, so a connection that keeps on is closed.
   */
  private withinLimits(session: Session, frame: Message): boolean {
    let refusal: string | undefined;
    if (!session.frameBudget.take()) {
      this.limits.refused("frames");
      refusal = `over ${this.limits.settings.maxFramesPerSecond} frames a second on this connection`;
    } else if (
      (frame.type === "task.submit" || frame.type === "task.submitMany") &&
      !this.limits.allowSubmit(session.tokenKey, frame.type === "task.submit" ? 1 : frame.specs.length)
    ) {
      refusal = `over ${this.limits.settings.maxSubmitsPerSecond} submits a second with this token`;
    } else if (
      frame.type === "task.watch" &&
      !session.watching.has(frame.taskId) &&
      !this.limits.allowWatch(session.watching.size)
    ) {
      refusal = `over ${this.limits.settings.maxWatchesPerConnection} watches on this connection`;
    }
    if (refusal === undefined) return true;
    this.violation(session, new FlotillaError("E_RATE_LIMITED", refusal), frame.id);
    return false;
  }

  /** Answers a frame the sender's scope does not allow; counted, but the connection stays open. */
  private refuse(session: Session, error: FlotillaError, replyTo: string | undefined): void {
    this.ctx.metrics.violations.inc({ code: error.code });
    this.ctx.out.error(session, error, replyTo);
  }

  private violation(session: Session, error: FlotillaError, replyTo: string | undefined): void {
    const ctx = this.ctx;
    session.violations += 1;
    ctx.metrics.violations.inc({ code: error.code });
    ctx.out.error(session, error, replyTo);
    if (session.violations >= ctx.options.maxViolations) {
      ctx.log.warn(
        { session: session.label, violations: session.violations },
        "closing a misbehaving connection",
      );
      ctx.out.flush(session);
      session.socket.close(1008, "too many protocol violations");
    }
  }

  private onClose(session: Session): void {
    const ctx = this.ctx;
    ctx.sessions.remove(session);
    this.limits.closed(session.tokenKey);
    session.outbox.clear();
    ctx.fanout.drop(session);
    this.parts.detector.connectionClosed(session);
  }
}

/** How often connections are checked for unsent bytes over the limit. */
const SLOW_CONSUMER_CHECK_MS = 1000;

/** The `id` of a frame that parsed as JSON but failed validation, so the error can name its request. */
function frameId(data: RawFrame): string | undefined {
  try {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.from(data as Buffer).toString("utf8");
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === "string" && id.length <= 128 ? id : undefined;
  } catch {
    return undefined;
  }
}

function rejectUpgrade(
  socket: Duplex,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value.replace(/[\r\n]/g, " ")}\r\n`)
    .join("");
  socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`);
  socket.destroy();
}
