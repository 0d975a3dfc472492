/**
 * The agent's link to the coordinator: it opens the WebSocket (bearer token on the upgrade), reconnects
 * with full-jitter backoff when it drops, and tells apart the refusals that reconnecting would only
 * repeat (a rejected token, a policy close, another agent taking over this node id), which end the agent.
 * Given several coordinator addresses (an active one and standbys), it tries them in turn: an address
 * that refuses (connection refused, a standby's HTTP 503, a close before the welcome) passes the turn to
 * the next at once, and the backoff applies only after a whole round failed; once welcomed it stays with
 * that address. It owns the socket, the address in use and the reconnect timer; what is said on the
 * socket is the wiring's business.
 */
import { CLOSE_PROTOCOL_VERSION, certificateProblem, FlotillaError } from "@flotilla/protocol";
import WebSocket from "ws";
import type { Settings } from "./options.js";
import type { RunOutbox } from "./run-outbox.js";

/** Close code of a connection refused on policy (token not valid for this node, protocol abuse). */
const CLOSE_POLICY = 1008;
/** Close code the coordinator uses when a newer connection of the same node replaced this one. */
const CLOSE_REPLACED = 4000;

/** What the connection tells the rest of the agent. */
export interface ConnectionHooks {
  /** A socket opened: the hello goes first. */
  opened(): void;
  /** A frame arrived from the coordinator. */
  message(data: WebSocket.RawData): void;
  /** The coordinator answered a ping. */
  pong(): void;
  /** The socket closed (whether or not a session was welcomed on it). */
  lost(): void;
  /** The coordinator refused this agent for good: it must stop. */
  fatal(error: FlotillaError): void;
}

/** The socket to the coordinator, reopened until the agent stops. */
export class Connection {
  /** No new connections: set by a fatal error, a failed start, or the end of a stop. */
  closed = false;
  private ws: WebSocket | undefined;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** The index in `settings.endpoints` of the address tried now (or in use). */
  private current = 0;
  /** Addresses that refused since the last welcome or the last backoff: a full round means back off. */
  private refusedInRound = 0;

  constructor(
    private readonly settings: Settings,
    private readonly outbox: RunOutbox,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** The endpoint tried now, or in use once welcomed. */
  get endpoint(): string {
    return this.settings.endpoints[this.current] as string;
  }

  /** A session was welcomed: the next drop starts its backoff from the shortest delay again. */
  welcomed(): void {
    this.reconnectAttempt = 0;
    this.refusedInRound = 0;
  }

  /** Opens a socket (unless closed); on a drop, a new one follows after the backoff. */
  connect(): void {
    if (this.closed) return;
    const settings = this.settings;
    const socket = new WebSocket(this.endpoint, {
      headers: { Authorization: `Bearer ${settings.token}` },
      handshakeTimeout: Math.min(settings.connectTimeoutMs, 10_000),
      ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    });
    this.ws = socket;
    this.outbox.attach(socket);
    let unauthorized = false;
    socket.on("open", () => this.hooks.opened());
    socket.on("unexpected-response", (_request, response) => {
      response.resume();
      unauthorized = response.statusCode === 401 || response.statusCode === 403;
      socket.terminate();
      if (unauthorized)
        this.hooks.fatal(new FlotillaError("E_UNAUTHORIZED", "token rejected by coordinator"));
    });
    socket.on("message", (data) => this.hooks.message(data));
    socket.on("pong", () => this.hooks.pong());
    socket.on("error", (error: NodeJS.ErrnoException) => {
      settings.logger.debug({ err: error.message }, "connection error");
      // Retrying would meet the same certificate: stop with what to pass instead.
      const untrusted = certificateProblem(this.endpoint, error);
      if (untrusted && !unauthorized) {
        unauthorized = true;
        this.hooks.fatal(untrusted);
      }
    });
    socket.on("close", (code, reasonBytes) => {
      if (this.ws !== socket) return;
      const wasWelcomed = this.outbox.welcomed;
      this.outbox.detach();
      this.hooks.lost();
      if (this.closed || unauthorized) return;
      const reason = reasonBytes.toString();
      // Reconnecting would only repeat these: the coordinator refuses this identity, or another agent
      // took it over (two agents configured with one id would otherwise evict each other forever).
      if (code === CLOSE_POLICY) {
        this.hooks.fatal(
          new FlotillaError("E_UNAUTHORIZED", `coordinator closed the connection: ${reason || "policy"}`),
        );
        return;
      }
      if (code === CLOSE_PROTOCOL_VERSION) {
        this.hooks.fatal(
          new FlotillaError("E_VERSION", reason || "the coordinator refused this protocol version"),
        );
        return;
      }
      if (code === CLOSE_REPLACED) {
        this.hooks.fatal(
          new FlotillaError("E_CONFLICT", `another agent connected as node ${settings.id}; this one stops`),
        );
        return;
      }
      if (wasWelcomed) {
        settings.logger.warn(
          { code, reason, url: this.endpoint },
          "connection to coordinator lost; reconnecting",
        );
      }
      this.reconnectTimer = setTimeout(() => this.connect(), this.nextDelay(wasWelcomed));
    });
  }

  /**
   * How long to wait before the next attempt, moving to the next address after a refusal: none while
   * addresses of this round are left, the backoff after a whole round refused or a session dropped.
   */
  private nextDelay(wasWelcomed: boolean): number {
    const count = this.settings.endpoints.length;
    if (!wasWelcomed) {
      this.current = (this.current + 1) % count;
      this.refusedInRound++;
      if (this.refusedInRound < count) return 0;
    }
    this.refusedInRound = 0;
    const { random, reconnectCapMs, reconnectBaseMs } = this.settings;
    const delay = random() * Math.min(reconnectCapMs, reconnectBaseMs * 2 ** this.reconnectAttempt);
    this.reconnectAttempt++;
    return delay;
  }

  /** Pings the coordinator (its WebSocket answers with a pong by itself), if a socket is open. */
  ping(): void {
    const socket = this.ws;
    if (socket !== undefined && socket.readyState === WebSocket.OPEN) socket.ping();
  }

  /** Cuts the socket of a session in doubt; the usual reconnect follows. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Stops for good at once: no reconnect, the socket is cut. */
  abort(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.terminate();
  }

  /**
   * Stops for good after a graceful close: what this turn queued (the bye, the last finishes) is written
   * before the close frame; a peer that does not answer within a second is cut off.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.ws;
    if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 1_000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.outbox.flushTurn();
      socket.close(1000, "agent stopping");
    });
  }
}
