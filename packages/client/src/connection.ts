import { FlotillaError, FrameOutbox } from "@flotilla/protocol";
import WebSocket from "ws";
import { fullJitterDelay } from "./backoff.js";

/**
 * The part of a `ws` WebSocket the client uses. Any implementation with the same event-emitter surface
 * can be injected (a test double, a proxy-aware socket).
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** Builds a socket for `url` sending `headers` with the upgrade request. */
export type WebSocketFactory = (url: string, options: { headers: Record<string, string> }) => WebSocketLike;

/** Reconnect policy. */
export interface ReconnectOptions {
  /** Upper bound of the first backoff delay, ms (default 100). */
  baseMs?: number;
  /** Longest backoff delay, ms (default 5000). */
  maxMs?: number;
  /** Stop trying after the connection has been down this long, ms (default 300000). */
  giveUpAfterMs?: number;
}

/** What the connection tells its owner. */
export interface ConnectionHooks {
  /** A socket opened; `reconnected` is false for the first one. */
  onOpen(reconnected: boolean): void;
  /** One text frame arrived. */
  onFrame(raw: string): void;
  /** The socket went down; a reconnect follows unless the connection is closed. */
  onDown(): void;
  /** The connection is closed for good: `error` says why, undefined after `close()`. */
  onClosed(error: FlotillaError | undefined): void;
}

/** Options of {@link Connection}. */
export interface ConnectionOptions {
  url: string;
  token: string | undefined;
  reconnect: Required<ReconnectOptions> | false;
  /** How often to ping an open socket; a socket that misses a pong is dropped (default 15000). */
  pingIntervalMs: number;
  createSocket: WebSocketFactory | undefined;
  clock: () => number;
  random: () => number;
}

type State =
  | { kind: "idle" }
  | { kind: "connecting"; socket: WebSocketLike }
  | { kind: "open"; socket: WebSocketLike; outbox: FrameOutbox; pinger: NodeJS.Timeout; alive: boolean }
  | { kind: "backoff"; timer: NodeJS.Timeout }
  | { kind: "closed" };

/**
 * One logical connection to the coordinator over a series of sockets: it reconnects with full-jitter
 * backoff until closed, rejected (HTTP 401/403 at the upgrade) or down for longer than `giveUpAfterMs`.
 * Frames sent during one turn of the event loop leave together at its end, in one socket write.
 */
export class Connection {
  #state: State = { kind: "idle" };
  #attempt = 0;
  #everOpened = false;
  #downSince: number | undefined;
  readonly #options: ConnectionOptions;
  readonly #hooks: ConnectionHooks;

  constructor(options: ConnectionOptions, hooks: ConnectionHooks) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /** Whether a socket is open and frames can be sent now. */
  get isOpen(): boolean {
    return this.#state.kind === "open";
  }

  /** Whether the connection is closed for good. */
  get isClosed(): boolean {
    return this.#state.kind === "closed";
  }

  /** Opens the first socket. */
  start(): void {
    if (this.#state.kind === "idle") this.#dial();
  }

  /**
   * Queues one frame for the end of this turn; returns false when no socket is open (the caller keeps it
   * for later). A frame queued on a socket that goes down before the turn ends is lost as one written
   * into it would be: the caller learns of it from `onDown`.
   */
  send(frame: string): boolean {
    if (this.#state.kind !== "open") return false;
    return this.#state.outbox.push(frame);
  }

  /** Drops the current socket as if the network failed; a reconnect follows. For tests and recovery. */
  drop(): void {
    if (this.#state.kind === "open" || this.#state.kind === "connecting") this.#state.socket.terminate();
  }

  /** Closes for good. */
  close(): void {
    this.#finish(undefined);
  }

  #dial(): void {
    const headers: Record<string, string> = {};
    if (this.#options.token) headers.authorization = `Bearer ${this.#options.token}`;
    const create =
      this.#options.createSocket ??
      ((url: string, options: { headers: Record<string, string> }) => new WebSocket(url, options));
    let socket: WebSocketLike;
    try {
      socket = create(this.#options.url, { headers });
    } catch (error) {
      this.#finish(
        new FlotillaError(
          "E_CONFIG",
          `invalid coordinator URL ${JSON.stringify(this.#options.url)} — use ws://host:port`,
          { cause: error },
        ),
      );
      return;
    }
    this.#state = { kind: "connecting", socket };
    let rejected = false;
    socket.on("unexpected-response", (_request: never, response: { statusCode?: number }) => {
      const status = response.statusCode ?? 0;
      if (status === 401 || status === 403) {
        rejected = true;
        this.#finish(
          new FlotillaError(
            "E_UNAUTHORIZED",
            "token rejected by coordinator — set the right token with --token or FLOTILLA_TOKEN",
            { details: { status } },
          ),
        );
      }
      socket.terminate();
    });
    socket.on("open", () => {
      if (this.#state.kind !== "connecting" || this.#state.socket !== socket) return;
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#attempt = 0;
      this.#downSince = undefined;
      const pinger = setInterval(() => this.#checkAlive(socket), this.#options.pingIntervalMs);
      pinger.unref();
      this.#state = { kind: "open", socket, outbox: new FrameOutbox(socket), pinger, alive: true };
      this.#hooks.onOpen(reconnected);
    });
    socket.on("pong", () => {
      if (this.#state.kind === "open" && this.#state.socket === socket) this.#state.alive = true;
    });
    socket.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (isBinary) return;
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data as ArrayBuffer).toString("utf8");
      this.#hooks.onFrame(text);
    });
    // 'error' is always followed by 'close'; the listener only keeps the error from being thrown.
    socket.on("error", () => {});
    socket.on("close", () => {
      if (rejected) return;
      this.#socketGone(socket);
    });
  }

  #checkAlive(socket: WebSocketLike): void {
    if (this.#state.kind !== "open" || this.#state.socket !== socket) return;
    // ws README: a socket that did not answer the last ping is half-open; terminate it and reconnect.
    if (!this.#state.alive) {
      socket.terminate();
      return;
    }
    this.#state.alive = false;
    socket.ping();
  }

  #socketGone(socket: WebSocketLike): void {
    const state = this.#state;
    if ((state.kind !== "open" && state.kind !== "connecting") || state.socket !== socket) return;
    if (state.kind === "open") {
      clearInterval(state.pinger);
      state.outbox.clear();
      this.#downSince = this.#options.clock();
      this.#state = { kind: "idle" };
      this.#hooks.onDown();
    }
    this.#downSince ??= this.#options.clock();
    const reconnect = this.#options.reconnect;
    if (reconnect === false) {
      this.#finish(unreachable(this.#options.url, "the connection was lost"));
      return;
    }
    if (this.#options.clock() - this.#downSince >= reconnect.giveUpAfterMs) {
      this.#finish(unreachable(this.#options.url, `no connection for ${reconnect.giveUpAfterMs} ms`));
      return;
    }
    const delay = fullJitterDelay(this.#attempt, reconnect, this.#options.random);
    this.#attempt += 1;
    const timer = setTimeout(() => {
      if (this.#state.kind === "backoff" && this.#state.timer === timer) this.#dial();
    }, delay);
    this.#state = { kind: "backoff", timer };
  }

  #finish(error: FlotillaError | undefined): void {
    const state = this.#state;
    if (state.kind === "closed") return;
    this.#state = { kind: "closed" };
    if (state.kind === "open") {
      clearInterval(state.pinger);
      // What this turn queued (an unwatch, a cancel sent just before close()) goes out ahead of the close.
      state.outbox.flush();
      state.socket.close(1000, "client closing");
    } else if (state.kind === "connecting") {
      state.socket.terminate();
    } else if (state.kind === "backoff") {
      clearTimeout(state.timer);
    }
    this.#hooks.onClosed(error);
  }
}

/** The error for a coordinator that cannot be reached, with what to do about it. */
export function unreachable(url: string, why: string): FlotillaError {
  return new FlotillaError(
    "E_COORDINATOR_UNAVAILABLE",
    `cannot reach the coordinator at ${url} (${why}) — check that it is running and that the URL is right (--url or FLOTILLA_URL)`,
    { details: { url } },
  );
}
