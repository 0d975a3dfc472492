import {
  certificateProblem,
  FlotillaError,
  FrameOutbox,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  REFUSAL_HEADER,
} from "@flotilla/protocol";
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

/**
 * Builds a socket for `url` sending `headers` with the upgrade request; `ca`, when set, is the PEM of the
 * CA a `wss://` coordinator's certificate must be signed by.
 */
export type WebSocketFactory = (
  url: string,
  options: { headers: Record<string, string>; ca?: string },
) => WebSocketLike;

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
  /** The coordinators' endpoints, tried in turn; at least one. */
  urls: readonly string[];
  token: string | undefined;
  /** PEM of the private CA that signed the coordinator's certificate (`wss://`). */
  ca: string | undefined;
  reconnect: Required<ReconnectOptions> | false;
  /** How often to ping an open socket; a socket that misses a pong is dropped (default 15000). */
  pingIntervalMs: number;
  /** How long one URL may take to open before the next is tried. */
  dialTimeoutMs: number;
  createSocket: WebSocketFactory | undefined;
  clock: () => number;
  random: () => number;
}

type State =
  | { kind: "idle" }
  | { kind: "connecting"; socket: WebSocketLike; timer: NodeJS.Timeout }
  | { kind: "open"; socket: WebSocketLike; outbox: FrameOutbox; pinger: NodeJS.Timeout; alive: boolean }
  | { kind: "backoff"; timer: NodeJS.Timeout }
  | { kind: "closed" };

/**
 * One logical connection to a coordinator over a series of sockets: it reconnects with full-jitter
 * backoff until closed, rejected (HTTP 401/403 at the upgrade) or down for longer than `giveUpAfterMs`.
 * Frames sent during one turn of the event loop leave together at its end, in one socket write.
 *
 * Given several URLs (an active coordinator and its standbys), each attempt is a round through them,
 * starting with the last one that opened: a refused connection, a socket that does not open within
 * `dialTimeoutMs` or any other HTTP answer to the upgrade (a standby's 503) moves on to the next URL at
 * once, and the backoff delay comes only between rounds. With one URL a round is one dial, as before.
 */
export class Connection {
  #state: State = { kind: "idle" };
  #attempt = 0;
  /** The URL being dialled, or open: an index into `urls`. */
  #current = 0;
  /** Dials left in this round, the current one included. */
  #roundLeft = 0;
  /** Why each URL failed at its last dial since the last open socket, for the give-up message. */
  readonly #failures = new Map<string, string>();
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
    if (this.#state.kind === "idle") this.#startRound();
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

  /** Starts a round of dials at the last URL that opened (the first one before any has). */
  #startRound(): void {
    this.#roundLeft = this.#options.urls.length;
    this.#dial();
  }

  #dial(): void {
    const url = this.#options.urls[this.#current] ?? "";
    const headers: Record<string, string> = {};
    if (this.#options.token) headers.authorization = `Bearer ${this.#options.token}`;
    headers[PROTOCOL_HEADER] = String(PROTOCOL_VERSION);
    const create: WebSocketFactory =
      this.#options.createSocket ?? ((url, options) => new WebSocket(url, options));
    let socket: WebSocketLike;
    try {
      socket = create(url, this.#options.ca === undefined ? { headers } : { headers, ca: this.#options.ca });
    } catch (error) {
      this.#finish(
        new FlotillaError("E_CONFIG", `invalid coordinator URL ${JSON.stringify(url)} — use ws://host:port`, {
          cause: error,
        }),
      );
      return;
    }
    // The first reason a dial failed is the one reported: the events that follow it only repeat it.
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure ??= `no answer within ${this.#options.dialTimeoutMs} ms`;
      socket.terminate();
    }, this.#options.dialTimeoutMs);
    unref(timer);
    this.#state = { kind: "connecting", socket, timer };
    let rejected = false;
    socket.on(
      "unexpected-response",
      (_request: never, response: { statusCode?: number; headers?: Record<string, unknown> }) => {
        const status = response.statusCode ?? 0;
        const refusal = response.headers?.[REFUSAL_HEADER];
        if (status === 426 && typeof refusal === "string") {
          rejected = true;
          this.#finish(new FlotillaError("E_VERSION", refusal, { details: { status } }));
          socket.terminate();
          return;
        }
        failure ??= status === 503 ? "HTTP 503: a standby, or not ready" : `HTTP ${status}`;
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
      },
    );
    socket.on("open", () => {
      if (this.#state.kind !== "connecting" || this.#state.socket !== socket) return;
      clearTimeout(this.#state.timer);
      const reconnected = this.#everOpened;
      this.#everOpened = true;
      this.#attempt = 0;
      this.#downSince = undefined;
      this.#failures.clear();
      const pinger = setInterval(() => this.#checkAlive(socket), this.#options.pingIntervalMs);
      unref(pinger);
      this.#state = { kind: "open", socket, outbox: new FrameOutbox(socket), pinger, alive: true };
      this.#hooks.onOpen(reconnected);
    });
    socket.on("pong", () => {
      if (this.#state.kind === "open" && this.#state.socket === socket) this.#state.alive = true;
    });
    socket.on("message", (data: string | Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (isBinary) return;
      // `ws` hands text frames over as bytes; a browser socket (browser-socket.ts) as a string.
      const text =
        typeof data === "string"
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data).toString("utf8")
            : Buffer.from(data as ArrayBuffer).toString("utf8");
      this.#hooks.onFrame(text);
    });
    // 'error' is always followed by 'close': it only says why, and keeps the error from being thrown.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // An untrusted certificate stays untrusted: no retry, and the error says what to pass.
      const untrusted = certificateProblem(url, error);
      if (untrusted && !rejected) {
        rejected = true;
        this.#finish(untrusted);
      }
      failure ??= dialFailure(error);
    });
    socket.on("close", () => {
      if (rejected) return;
      this.#socketGone(socket, url, failure ?? "closed before it opened");
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

  #socketGone(socket: WebSocketLike, url: string, failure: string): void {
    const state = this.#state;
    if ((state.kind !== "open" && state.kind !== "connecting") || state.socket !== socket) return;
    const reconnect = this.#options.reconnect;
    if (state.kind === "open") {
      clearInterval(state.pinger);
      state.outbox.clear();
      this.#downSince = this.#options.clock();
      this.#state = { kind: "idle" };
      this.#hooks.onDown();
      if (reconnect === false) {
        this.#finish(this.unreachable("the connection was lost"));
        return;
      }
    } else {
      clearTimeout(state.timer);
      this.#failures.set(url, failure);
      this.#roundLeft -= 1;
      if (this.#roundLeft > 0) {
        // The next URL at once: a refusal there is quick, and a standby's 503 is not a reason to wait.
        this.#current = (this.#current + 1) % this.#options.urls.length;
        this.#dial();
        return;
      }
      // A failed round ends where it began, at the URL that last opened, so the next round starts there.
      this.#current = (this.#current + 1) % this.#options.urls.length;
    }
    this.#downSince ??= this.#options.clock();
    if (reconnect === false) {
      this.#finish(this.unreachable("reconnecting is off"));
      return;
    }
    if (this.#options.clock() - this.#downSince >= reconnect.giveUpAfterMs) {
      this.#finish(this.unreachable(`no connection for ${reconnect.giveUpAfterMs} ms`));
      return;
    }
    const delay = fullJitterDelay(this.#attempt, reconnect, this.#options.random);
    this.#attempt += 1;
    const timer = setTimeout(() => {
      if (this.#state.kind === "backoff" && this.#state.timer === timer) this.#startRound();
    }, delay);
    this.#state = { kind: "backoff", timer };
  }

  /**
   * The error for giving up now: `why`, and each URL with the reason its last dial failed (the socket that
   * was lost, for a URL not dialled since).
   */
  unreachable(why: string): FlotillaError {
    const urls = this.#options.urls;
    if (urls.length === 1) {
      const only = urls[0] ?? "";
      const failure = this.#failures.get(only);
      return unreachable(only, failure === undefined ? why : `${failure}; ${why}`);
    }
    const tried = urls.map((url) => `${url} (${this.#failures.get(url) ?? "not reached"})`).join(", ");
    return new FlotillaError(
      "E_COORDINATOR_UNAVAILABLE",
      `cannot reach an active coordinator at any of ${tried}; ${why} — check that one is running and that the URLs are right (--url or FLOTILLA_URL)`,
      { details: { urls: [...urls], failures: Object.fromEntries(this.#failures) } },
    );
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
      clearTimeout(state.timer);
      state.socket.terminate();
    } else if (state.kind === "backoff") {
      clearTimeout(state.timer);
    }
    this.#hooks.onClosed(error);
  }
}

/** Lets the process exit while `timer` is pending; a browser's timers are numbers and have no such thing. */
function unref(timer: NodeJS.Timeout): void {
  if (typeof timer === "object") timer.unref();
}

/** Says in a few words why a socket failed before it opened (`connection refused`, `host not found`). */
function dialFailure(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ETIMEDOUT":
      return "connection timed out";
    case "ECONNRESET":
      return "connection reset";
    default:
      return error.message;
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
