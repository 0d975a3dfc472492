/**
 * The client's options and the shapes of its smaller calls: what `connect` takes, per-request options, the
 * dead-letter API. Kept apart from `client.ts` so the session's machinery there reads on its own.
 */
import type { ReconnectOptions, WebSocketFactory } from "./connection.js";
import type { DlqEntry, OutputChunk, TaskEvent } from "./wire.js";

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * The coordinator, e.g. `ws://127.0.0.1:7420`; `/v1/client` is appended unless the path is given. An
   * active coordinator and its standbys are written as a comma-separated list (`ws://a:7420,ws://b:7420`)
   * here or given as {@link ConnectOptions.urls}: each connect and reconnect tries them in turn, starting
   * with the last one that worked. One of `url` and `urls` is required; given both, `url`'s come first.
   */
  url?: string;
  /** Coordinator URLs as a list, each written as for `url`. */
  urls?: readonly string[];
  /**
   * How long one URL may take to open before the next is tried, ms (default 3000). The backoff of
   * `reconnect` applies only once every URL has failed.
   */
  dialTimeoutMs?: number;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * PEM text of the private CA that signed a `wss://` coordinator's certificate (`flotilla-coordinator
   * init-tls` makes it). The certificate and its host name are verified either way; without this only the
   * system's CAs are trusted, and a certificate they did not sign fails `connect` with `E_CONFIG`.
   */
  ca?: string;
  /** This client's id on the wire (`from`); a random one by default. */
  clientId?: string;
  /** Reconnect policy, or false to fail on the first lost connection. */
  reconnect?: ReconnectOptions | false;
  /** How long a request waits for its reply, including time spent waiting for a reconnect (default 30000). */
  requestTimeoutMs?: number;
  /** How long {@link connect} waits for the first connection (default 10000). */
  connectTimeoutMs?: number;
  /** Ping period for detecting dead sockets (default 15000). */
  pingIntervalMs?: number;
  /** Socket factory; `ws` by default. */
  WebSocket?: WebSocketFactory;
  /** Clock for message timestamps and give-up timing. */
  clock?: () => number;
  /** Uniform random source in [0, 1) for backoff jitter. */
  random?: () => number;
  /**
   * This agent's name for projects (`client.projects`): the coordinator records `<token name>/<agent>` as
   * a claim's holder (the token's name alone without it).
   */
  agent?: string;
  /** The capabilities this agent's project claims match against tasks' `needs`. */
  capabilities?: readonly string[];
}

/** One update of a watched task, in wire order. */
export type TaskUpdate = { kind: "event"; event: TaskEvent } | { kind: "output"; chunk: OutputChunk };

/** Dead-letter queue operations. */
export interface DlqApi {
  list(): Promise<DlqEntry[]>;
  get(taskId: string): Promise<Record<string, unknown>>;
  retry(taskId: string): Promise<Record<string, unknown>>;
  /** Purges one entry, or the whole queue without an id. */
  purge(taskId?: string): Promise<Record<string, unknown>>;
}

/** Per-call request options. */
export interface RequestOptions {
  /** Overrides the client's request timeout. */
  timeoutMs?: number;
}

/** Options of {@link FlotillaClient.alerts}. */
export interface AlertsOptions extends RequestOptions {
  /** Only the alerts firing now (default false: recently resolved ones too). */
  firingOnly?: boolean;
}

/** Options of {@link FlotillaClient.history}. */
export interface HistoryOptions extends RequestOptions {
  /** The last this many minutes (1..60; default: all the coordinator keeps). */
  minutes?: number;
}

/** Options of {@link FlotillaClient.submit}. */
export interface SubmitOptions extends RequestOptions {
  /**
   * Whether the coordinator pushes the task's outcome to this connection when it ends (`task.done`), so
   * `result()` resolves without a watch or a lookup (default true). Pass `false` to fire and forget, when
   * `result()` will not be called: the coordinator then keeps no promise for the task and sends nothing
   * back. `result()` still works without it, by watching the task and reading its record, as it does
   * when the connection is lost before the outcome is pushed.
   */
  wait?: boolean;
}
