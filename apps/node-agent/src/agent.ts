import { hostname } from "node:os";
import {
  createMessage,
  decode,
  type ErrorCode,
  encode,
  FlotillaError,
  type Message,
  type MessageFields,
  type MessageOf,
  type MessageType,
  type RunRef,
  type TaskSpec,
} from "@flotilla/protocol";
import { type Logger, pino } from "pino";
import WebSocket from "ws";
import { type CallHandlers, startCall } from "./call.js";
import { startExec } from "./exec.js";
import { collectFingerprint, deriveCapabilities, type Fingerprint, sampleLoad } from "./fingerprint.js";
import type { OutputChunk } from "./output.js";
import { DEFAULT_KILL_GRACE_MS, type RunHandle, type RunResult } from "./run.js";
import { AGENT_VERSION } from "./version.js";

/** Options of {@link createAgent}. */
export interface AgentOptions {
  /** `ws://host:port` of the coordinator; `/v1/agent` is appended. */
  coordinatorUrl: string;
  /** Sent as `Authorization: Bearer <token>` on the upgrade. */
  token: string;
  /** The node id (default: the hostname, made id-safe). */
  id?: string;
  labels?: Record<string, string>;
  /** How many tasks run at once (default: logical cores). */
  slots?: number;
  /** `call` handlers by name. */
  handlers?: CallHandlers;
  /** Heartbeat period until the coordinator's welcome says otherwise (default 1000). */
  heartbeatIntervalMs?: number;
  /** SIGTERM -> SIGKILL grace for cancelled and timed-out runs (default 10 s). */
  killGraceMs?: number;
  /** How long a graceful stop lets running tasks finish (default 30 s). */
  shutdownGraceMs?: number;
  /** How long `start()` keeps trying to reach the coordinator (default 10 s). */
  connectTimeoutMs?: number;
  /** Cores from which the node counts as heavy (default 8). */
  heavyCores?: number;
  /** Idle time with free slots before asking to steal work (default 200 ms). */
  stealIdleMs?: number;
  /** Minimum time between two steal requests (default 500 ms). */
  stealIntervalMs?: number;
  /**
   * Output kept per task while disconnected or while the socket is full; beyond it the oldest chunks are
   * dropped (default 8 MiB).
   */
  maxBufferedOutputBytes?: number;
  /** Unsent bytes the socket may hold before run messages queue in the agent instead (default 4 MiB). */
  maxSocketBufferBytes?: number;
  /** Reconnect backoff: full jitter over `min(cap, base * 2^n)` (default 100 ms, 5 s). */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  /** Where tasks run by default and whose free disk is reported (default `process.cwd()`). */
  workDir?: string;
  /** JSON logger (default: pino to stderr). */
  logger?: Logger;
  /** Skips measuring the machine (tests, or a caller that already has one); then it is never refreshed. */
  fingerprint?: Fingerprint;
  /**
   * How often free disk and docker are measured again, so a docker engine started after the agent shows up
   * as a capability in the next heartbeat (default 60 s; 0 turns it off).
   */
  fingerprintRefreshMs?: number;
  /** Epoch-ms clock, for message timestamps and idle accounting (default `Date.now`). */
  clock?: () => number;
  /** Uniform [0, 1) source for backoff jitter (default `Math.random`). */
  random?: () => number;
  /** Called once when the agent gives up for good after having started (the token was rejected). */
  onFatal?: (error: FlotillaError) => void;
}

/** Options of {@link Agent.stop}. */
export interface StopOptions {
  /** Skip the grace period: cancel running tasks at once with SIGKILL. */
  now?: boolean;
}

/** A running node agent. */
export interface Agent {
  /** The node id it announces. */
  readonly id: string;
  /** Capabilities derived from the fingerprint and labels (empty before `start()`). */
  readonly capabilities: readonly string[];
  readonly slots: number;
  /** Tasks running now. */
  readonly slotsUsed: number;
  /** The measured fingerprint (undefined before `start()`). */
  readonly fingerprint: Fingerprint | undefined;
  /** Whether a welcomed session is open. */
  readonly connected: boolean;
  /** Resolves once the coordinator welcomed the agent; rejects with E_UNAUTHORIZED or E_COORDINATOR_UNAVAILABLE. */
  start(): Promise<void>;
  /** Graceful stop (see the README); a second call with `{ now: true }` cuts the grace short. */
  stop(options?: StopOptions): Promise<void>;
}

/** What the agent remembers about one assigned task. */
interface Run {
  taskId: string;
  epoch: number;
  handle: RunHandle | undefined;
  /** The process (or handler) is still going: the run holds a slot. */
  active: boolean;
  /** Nothing more may be sent for this run (lease gone, or handed back while draining). */
  silent: boolean;
  /** Messages produced while no welcomed session was open, in order. */
  outbox: Message[];
  outboxOutputBytes: number;
  droppedOutputBytes: number;
}

/** Close code of a connection refused on policy (token not valid for this node, protocol abuse). */
const CLOSE_POLICY = 1008;
/** Close code the coordinator uses when a newer connection of the same node replaced this one. */
const CLOSE_REPLACED = 4000;

/** Recent message ids of run messages, to find the run an `error` answers when it lacks details. */
const SENT_INDEX_LIMIT = 4096;

/** Turns a hostname into a valid node id. */
function defaultNodeId(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9._:-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "");
  return (cleaned || "node").slice(0, 128);
}

function agentEndpoint(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  return trimmed.endsWith("/v1/agent") ? trimmed : `${trimmed}/v1/agent`;
}

/**
 * Creates a node agent: it connects to the coordinator, says hello with its fingerprint, heartbeats, runs
 * what it is assigned within its slots, streams output, and keeps runs alive across reconnects.
 */
export function createAgent(options: AgentOptions): Agent {
  const id = options.id ?? defaultNodeId();
  const labels = options.labels ?? {};
  const handlers = options.handlers ?? {};
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const logger = options.logger ?? pino({ name: "flotilla-agent" }, pino.destination(2));
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const shutdownGraceMs = options.shutdownGraceMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const stealIdleMs = options.stealIdleMs ?? 200;
  const stealIntervalMs = options.stealIntervalMs ?? 500;
  const maxBufferedOutputBytes = options.maxBufferedOutputBytes ?? 8 * 1024 * 1024;
  const maxSocketBufferBytes = options.maxSocketBufferBytes ?? 4 * 1024 * 1024;
  const reconnectBaseMs = options.reconnectBaseMs ?? 100;
  const reconnectCapMs = options.reconnectCapMs ?? 5_000;
  const endpoint = agentEndpoint(options.coordinatorUrl);
  // Tasks inherit the agent's environment, but not its credential; the value is also masked in output.
  const { FLOTILLA_TOKEN: _agentToken, ...taskBaseEnv } = process.env;

  let fingerprint = options.fingerprint;
  let capabilities: string[] = [];
  let slots = options.slots ?? 1;
  let heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000;

  const runs = new Map<string, Run>();
  const sentIndex = new Map<string, string>();
  let ws: WebSocket | undefined;
  let welcomed = false;
  let reconnectAttempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let lastAssignAt = 0;
  let lastStealAt = Number.NEGATIVE_INFINITY;
  /** No new connections: set by a fatal error, a failed start, or the end of stop(). */
  let closed = false;
  let draining = false;
  let startWaiter: { resolve: () => void; reject: (error: FlotillaError) => void } | undefined;
  let stopPromise: Promise<void> | undefined;
  let cutGraceShort: (() => void) | undefined;
  /** Set by a second stop({ now: true }): leftover runs get SIGKILL instead of a grace period. */
  let urgent = false;

  const activeCount = (): number => {
    let n = 0;
    for (const run of runs.values()) if (run.active && !run.silent) n++;
    return n;
  };

  const activeRefs = (): RunRef[] =>
    [...runs.values()]
      .filter((r) => r.active && !r.silent)
      .map((r) => ({ taskId: r.taskId, epoch: r.epoch }));

  function build<T extends MessageType>(type: T, fields: MessageFields<T>): MessageOf<T> {
    return createMessage(type, fields, { from: id, now: clock });
  }

  function sendNow(message: Message): boolean {
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encode(message));
    return true;
  }

  /** Sends a message about a run now, or keeps it for the next welcome when no session is open. */
  function sendForRun(run: Run, message: Message): void {
    if (run.silent) return;
    // Behind earlier queued messages of the run, or behind a full socket, it queues too: order is kept.
    if (welcomed && run.outbox.length === 0 && socketHasRoom() && sendNow(message)) {
      rememberSent(message.id ?? "", run.taskId);
      return;
    }
    run.outbox.push(message);
    if (message.type !== "task.output") return;
    run.outboxOutputBytes += message.data.length;
    while (run.outboxOutputBytes > maxBufferedOutputBytes) {
      const index = run.outbox.findIndex((m) => m.type === "task.output");
      const [dropped] = index < 0 ? [] : run.outbox.splice(index, 1);
      if (dropped?.type !== "task.output") break;
      run.outboxOutputBytes -= dropped.data.length;
      if (run.droppedOutputBytes === 0) {
        logger.warn(
          { taskId: run.taskId, limitBytes: maxBufferedOutputBytes },
          "output buffer full (disconnected or slow link): dropping the oldest output",
        );
      }
      run.droppedOutputBytes += dropped.data.length;
    }
  }

  /** False while the socket holds more unsent bytes than allowed: the link is slower than the output. */
  function socketHasRoom(): boolean {
    return ws !== undefined && ws.bufferedAmount < maxSocketBufferBytes;
  }

  /**
   * Sends queued run messages while the socket has room (all of them when `force`), and forgets runs
   * that are over once their last message is out.
   */
  function flushOutboxes(force = false): void {
    if (!welcomed) return;
    for (const run of [...runs.values()]) {
      while (run.outbox.length > 0 && (force || socketHasRoom())) {
        const queued = run.outbox[0] as Message;
        if (!sendNow(queued)) return;
        run.outbox.shift();
        if (queued.type === "task.output") run.outboxOutputBytes -= queued.data.length;
        rememberSent(queued.id ?? "", run.taskId);
      }
      if (!run.active && run.outbox.length === 0) runs.delete(run.taskId);
    }
  }

  function rememberSent(messageId: string, taskId: string): void {
    sentIndex.set(messageId, taskId);
    if (sentIndex.size > SENT_INDEX_LIMIT) {
      const oldest = sentIndex.keys().next().value;
      if (oldest !== undefined) sentIndex.delete(oldest);
    }
  }

  /** Stops a run at once and forgets it: its lease belongs to someone else now. */
  function killSilently(run: Run, why: string): void {
    logger.warn({ taskId: run.taskId, epoch: run.epoch }, `killing run: ${why}`);
    run.silent = true;
    run.outbox = [];
    run.handle?.kill();
    runs.delete(run.taskId);
  }

  function onRunOutput(run: Run, chunk: OutputChunk): void {
    sendForRun(run, build("task.output", { taskId: run.taskId, epoch: run.epoch, ...chunk }));
  }

  function onRunDone(run: Run, result: RunResult): void {
    run.active = false;
    if (run.silent) {
      if (runs.get(run.taskId) === run) runs.delete(run.taskId);
      return;
    }
    const fields: MessageFields<"task.finish"> = {
      taskId: run.taskId,
      epoch: run.epoch,
      outcome: result.outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
    };
    if (result.usage !== undefined) fields.usage = result.usage;
    if (result.result !== undefined) fields.result = result.result;
    if (result.error !== undefined) fields.error = result.error;
    sendForRun(run, build("task.finish", fields));
    if (run.outbox.length === 0 && runs.get(run.taskId) === run) runs.delete(run.taskId);
    logger.info(
      { taskId: run.taskId, outcome: result.outcome, durationMs: result.durationMs },
      "task finished",
    );
    notifyIdle();
  }

  function reject(taskId: string, epoch: number, code: ErrorCode, reason: string): void {
    sendNow(build("task.reject", { taskId, epoch, code, reason }));
  }

  function startRun(run: Run, spec: TaskSpec, attempt: number): RunHandle {
    const common = {
      onOutput: (chunk: OutputChunk) => onRunOutput(run, chunk),
      ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    };
    if (spec.kind === "call") {
      const handler = handlers[spec.handler];
      if (handler === undefined) throw new FlotillaError("E_INTERNAL", "handler vanished");
      return startCall(handler, spec.payload, {
        ...common,
        taskId: run.taskId,
        attempt,
        onProgress: (percent, message) =>
          sendForRun(
            run,
            build("task.progress", {
              taskId: run.taskId,
              epoch: run.epoch,
              percent,
              ...(message === undefined ? {} : { message }),
            }),
          ),
      });
    }
    const execSpec = {
      ...(spec.argv === undefined ? {} : { argv: spec.argv }),
      ...(spec.shell === undefined ? {} : { shell: spec.shell }),
      ...(spec.env === undefined ? {} : { env: spec.env }),
      cwd: spec.cwd ?? options.workDir ?? process.cwd(),
    };
    return startExec(execSpec, { ...common, killGraceMs, baseEnv: taskBaseEnv, secrets: [options.token] });
  }

  function onAssign(message: MessageOf<"task.assign">): void {
    const { taskId, epoch, attempt, spec } = message;
    lastAssignAt = clock();
    if (draining) {
      reject(taskId, epoch, "E_DRAINING", "node is shutting down");
      return;
    }
    const existing = runs.get(taskId);
    if (existing !== undefined) {
      if (existing.epoch === epoch) {
        // A repeated assignment (the coordinator did not see our accept): say yes again, run it once.
        if (existing.active) sendNow(build("task.accept", { taskId, epoch }));
        return;
      }
      if (existing.epoch > epoch) {
        reject(taskId, epoch, "E_STALE_EPOCH", "a newer lease is running here");
        return;
      }
      killSilently(existing, `superseded by epoch ${epoch}`);
    }
    if (activeCount() >= slots) {
      reject(taskId, epoch, "E_QUEUE_FULL", `all ${slots} slots are busy`);
      return;
    }
    if (spec.kind === "call" && handlers[spec.handler] === undefined) {
      reject(taskId, epoch, "E_HANDLER", `no handler named ${spec.handler} on node ${id}`);
      return;
    }
    const run: Run = {
      taskId,
      epoch,
      handle: undefined,
      active: true,
      silent: false,
      outbox: [],
      outboxOutputBytes: 0,
      droppedOutputBytes: 0,
    };
    runs.set(taskId, run);
    sendNow(build("task.accept", { taskId, epoch }));
    logger.info({ taskId, epoch, attempt, kind: spec.kind }, "task accepted");
    const handle = startRun(run, spec, attempt);
    run.handle = handle;
    void handle.done.then((result) => onRunDone(run, result));
  }

  function onCancel(message: MessageOf<"task.cancel">): void {
    const run = runs.get(message.taskId);
    if (run === undefined || (message.epoch !== undefined && message.epoch !== run.epoch)) return;
    logger.info({ taskId: run.taskId, reason: message.reason }, "cancelling task");
    run.handle?.cancel();
  }

  function onError(message: MessageOf<"error">): void {
    if (message.code !== "E_STALE_EPOCH") {
      logger.warn({ code: message.code, replyTo: message.replyTo }, `coordinator error: ${message.message}`);
      return;
    }
    const details = message.details ?? {};
    const taskId =
      typeof details.taskId === "string"
        ? details.taskId
        : message.replyTo === undefined
          ? undefined
          : sentIndex.get(message.replyTo);
    const run = taskId === undefined ? undefined : runs.get(taskId);
    if (run === undefined) return;
    if (typeof details.epoch === "number" && details.epoch !== run.epoch) return;
    killSilently(run, "lease is stale");
  }

  function onWelcome(message: MessageOf<"agent.welcome">): void {
    heartbeatIntervalMs = message.heartbeatIntervalMs;
    const keep = new Set(message.keep.map((r) => `${r.taskId}@${r.epoch}`));
    for (const run of [...runs.values()]) {
      if (!keep.has(`${run.taskId}@${run.epoch}`)) {
        killSilently(run, "the coordinator did not keep its lease");
      }
    }
    welcomed = true;
    flushOutboxes();
    reconnectAttempt = 0;
    lastAssignAt = clock();
    logger.info({ nodeId: message.nodeId, heartbeatIntervalMs }, "welcomed by coordinator");
    clearInterval(heartbeatTimer);
    heartbeatTimer = setInterval(sendHeartbeat, heartbeatIntervalMs);
    sendHeartbeat();
    const waiter = startWaiter;
    startWaiter = undefined;
    waiter?.resolve();
  }

  function sendHeartbeat(): void {
    if (!welcomed) return;
    const used = activeCount();
    sendNow(
      build("heartbeat", {
        capabilities,
        status: draining ? "offline" : used >= slots ? "busy" : "ready",
        load: sampleLoad(used, slots),
        running: activeRefs(),
      }),
    );
  }

  /** Asks for stolen work when slots have been free and nothing was assigned for a while. */
  /** The 100 ms tick: drains queued run messages as the socket empties, and asks for work when idle. */
  function tick(): void {
    flushOutboxes();
    maybeSteal();
  }

  function maybeSteal(): void {
    if (!welcomed || draining) return;
    const free = slots - activeCount();
    const now = clock();
    if (free <= 0 || now - lastAssignAt < stealIdleMs || now - lastStealAt < stealIntervalMs) return;
    lastStealAt = now;
    sendNow(build("steal.request", { freeSlots: free }));
  }

  /** A run ended; wakes a graceful stop that waits for the last one. */
  let idleWaiters: Array<() => void> = [];
  function notifyIdle(): void {
    if (activeCount() > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  }

  function onFrame(data: WebSocket.RawData): void {
    const decoded = decode(data);
    if (!decoded.ok) {
      logger.warn(
        { code: decoded.error.code, details: decoded.error.details },
        "unreadable frame from coordinator",
      );
      return;
    }
    const message = decoded.message;
    switch (message.type) {
      case "agent.welcome":
        onWelcome(message);
        break;
      case "task.assign":
        onAssign(message);
        break;
      case "task.cancel":
        onCancel(message);
        break;
      case "error":
        onError(message);
        break;
      case "steal.grant":
        logger.debug({ tasks: message.tasks.length }, "steal granted");
        break;
      default:
        logger.debug({ type: message.type }, "ignoring message");
    }
  }

  function fail(error: FlotillaError): void {
    closed = true;
    clearTimeout(reconnectTimer);
    ws?.terminate();
    const waiter = startWaiter;
    startWaiter = undefined;
    if (waiter !== undefined) {
      waiter.reject(error);
      return;
    }
    logger.error({ code: error.code }, error.message);
    for (const run of [...runs.values()]) killSilently(run, "agent gave up");
    options.onFatal?.(error);
  }

  function connect(): void {
    if (closed) return;
    const socket = new WebSocket(endpoint, {
      headers: { Authorization: `Bearer ${options.token}` },
      handshakeTimeout: Math.min(connectTimeoutMs, 10_000),
    });
    ws = socket;
    let unauthorized = false;
    socket.on("open", () => {
      const node = {
        id,
        host: hostname(),
        version: AGENT_VERSION,
        fingerprint: fingerprint as Fingerprint,
        labels,
        capabilities,
        slots,
      };
      const running = [...runs.values()]
        .filter((r) => !r.silent)
        .map((r) => ({ taskId: r.taskId, epoch: r.epoch }));
      sendNow(build("agent.hello", { node, running, handlers: Object.keys(handlers) }));
    });
    socket.on("unexpected-response", (_request, response) => {
      response.resume();
      unauthorized = response.statusCode === 401 || response.statusCode === 403;
      socket.terminate();
      if (unauthorized) fail(new FlotillaError("E_UNAUTHORIZED", "token rejected by coordinator"));
    });
    socket.on("message", onFrame);
    socket.on("error", (error) => {
      logger.debug({ err: error.message }, "connection error");
    });
    socket.on("close", (code, reasonBytes) => {
      if (ws !== socket) return;
      const wasWelcomed = welcomed;
      welcomed = false;
      clearInterval(heartbeatTimer);
      if (closed || unauthorized) return;
      const reason = reasonBytes.toString();
      // Reconnecting would only repeat these: the coordinator refuses this identity, or another agent
      // took it over (two agents configured with one id would otherwise evict each other forever).
      if (code === CLOSE_POLICY) {
        fail(new FlotillaError("E_UNAUTHORIZED", `coordinator closed the connection: ${reason || "policy"}`));
        return;
      }
      if (code === CLOSE_REPLACED) {
        fail(new FlotillaError("E_CONFLICT", `another agent connected as node ${id}; this one stops`));
        return;
      }
      if (wasWelcomed) logger.warn({ code, reason }, "connection to coordinator lost; reconnecting");
      const delay = random() * Math.min(reconnectCapMs, reconnectBaseMs * 2 ** reconnectAttempt);
      reconnectAttempt++;
      reconnectTimer = setTimeout(connect, delay);
    });
  }

  function computeCapabilities(measured: Fingerprint): string[] {
    return deriveCapabilities(
      measured,
      labels,
      options.heavyCores === undefined ? {} : { heavyCores: options.heavyCores },
    );
  }

  async function refreshFingerprint(): Promise<void> {
    const measured = await collectFingerprint(
      options.workDir === undefined ? {} : { workDir: options.workDir },
    ).catch(() => undefined);
    if (measured === undefined || closed) return;
    const next = computeCapabilities(measured);
    if (next.join() !== capabilities.join()) logger.info({ capabilities: next }, "capabilities changed");
    fingerprint = measured;
    capabilities = next;
  }

  async function start(): Promise<void> {
    if (closed) throw new FlotillaError("E_CONFLICT", "agent already stopped");
    fingerprint ??= await collectFingerprint(
      options.workDir === undefined ? {} : { workDir: options.workDir },
    );
    slots = options.slots ?? fingerprint.cores;
    if (!Number.isInteger(slots) || slots < 1)
      throw new FlotillaError("E_CONFIG", `slots must be >= 1, got ${slots}`);
    capabilities = computeCapabilities(fingerprint);
    const welcome = new Promise<void>((resolve, reject) => {
      startWaiter = { resolve, reject };
    });
    const deadline = setTimeout(() => {
      fail(
        new FlotillaError("E_COORDINATOR_UNAVAILABLE", `cannot reach coordinator at ${endpoint}`, {
          details: { url: endpoint, waitedMs: connectTimeoutMs },
        }),
      );
    }, connectTimeoutMs);
    connect();
    try {
      await welcome;
    } finally {
      clearTimeout(deadline);
    }
    tickTimer = setInterval(tick, Math.max(10, Math.min(100, stealIdleMs)));
    const refreshMs = options.fingerprintRefreshMs ?? 60_000;
    if (options.fingerprint === undefined && refreshMs > 0) {
      refreshTimer = setInterval(() => void refreshFingerprint(), refreshMs);
      refreshTimer.unref();
    }
  }

  async function drain(now: boolean): Promise<void> {
    draining = true;
    sendHeartbeat();
    if (!now && activeCount() > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, shutdownGraceMs);
        cutGraceShort = () => {
          clearTimeout(timer);
          resolve();
        };
        idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // Hand back what did not finish: the coordinator requeues it elsewhere; no finish follows.
    const leftover = [...runs.values()].filter((r) => r.active && !r.silent);
    for (const run of leftover) {
      reject(run.taskId, run.epoch, "E_DRAINING", "node shut down before the task finished");
      run.silent = true;
      if (now || urgent) run.handle?.kill();
      else run.handle?.cancel();
    }
    // A cancelled process gets its grace period; a second signal (stop({ now })) makes it a SIGKILL.
    await Promise.all(
      leftover.map(async (run) => {
        if (run.handle === undefined) return;
        const escalate = (): void => run.handle?.kill();
        const previous = cutGraceShort;
        cutGraceShort = () => {
          previous?.();
          escalate();
        };
        await run.handle.done;
      }),
    );
    flushOutboxes(true);
    sendNow(build("agent.bye", { reason: "shutdown" }));
  }

  async function stop(stopOptions: StopOptions = {}): Promise<void> {
    if (stopPromise !== undefined) {
      if (stopOptions.now) {
        urgent = true;
        cutGraceShort?.();
      }
      return stopPromise;
    }
    stopPromise = (async () => {
      if (!closed) await drain(stopOptions.now === true);
      closed = true;
      clearInterval(heartbeatTimer);
      clearInterval(tickTimer);
      clearInterval(refreshTimer);
      clearTimeout(reconnectTimer);
      const socket = ws;
      if (socket !== undefined && socket.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            socket.terminate();
            resolve();
          }, 1_000);
          socket.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close(1000, "agent stopping");
        });
      }
      const waiter = startWaiter;
      startWaiter = undefined;
      waiter?.reject(new FlotillaError("E_CANCELLED", "agent stopped before it was welcomed"));
    })();
    return stopPromise;
  }

  return {
    id,
    get capabilities() {
      return capabilities;
    },
    get slots() {
      return slots;
    },
    get slotsUsed() {
      return activeCount();
    },
    get fingerprint() {
      return fingerprint;
    },
    get connected() {
      return welcomed;
    },
    start,
    stop,
  };
}
