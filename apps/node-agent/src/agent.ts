import { hostname } from "node:os";
import {
  createMessage,
  decode,
  type ErrorCode,
  encode,
  encodeFields,
  FlotillaError,
  FrameOutbox,
  type MessageFields,
  type MessageOf,
  type MessageType,
  type RunRef,
  type TaskSpec,
} from "@flotilla/protocol";
import { type Logger, pino } from "pino";
import WebSocket from "ws";
import { type CallHandlers, type CallOptions, startCall } from "./call.js";
import { type ExecOptions, type ExecSpec, prepareEnv, startExec } from "./exec.js";
import { collectFingerprint, deriveCapabilities, type Fingerprint, sampleLoad } from "./fingerprint.js";
import type { OutputChunk } from "./output.js";
import { DEFAULT_KILL_GRACE_MS, type RunHandle, type RunResult } from "./run.js";
import type { Spawner } from "./spawner.js";
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
  /**
   * How many assignments the agent holds beyond its slots, to start the moment a slot frees up with no
   * round trip to the coordinator (default 64; 0 turns it off). The coordinator sends only about
   * `holdAheadMs` of work per slot ahead (10 ms by default), so many are held only for tiny tasks.
   */
  prefetch?: number;
  /**
   * How long a held assignment may wait for a slot before it is handed back (`task.reject` with
   * `E_QUEUE_FULL`) so the coordinator can place it again, expire it or let an idle node steal it
   * (default 100 ms).
   */
  maxHoldMs?: number;
  /**
   * How long a run goes before its `task.accept` is sent (default 20 ms; 0 sends it as the run starts).
   * A run that ends sooner sends only its finish, which saves the coordinator a Redis write and a wakeup
   * per short task; the accept carries `runningForMs`, so the recorded start time stays exact.
   */
  acceptDelayMs?: number;
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
  /** Where `exec` processes are started (default: the shared spawn helper, see `HelperSpawner`). */
  spawner?: Spawner;
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

/** A message encoded for the wire, with what the agent needs to know about it afterwards. */
interface Frame {
  text: string;
  /** Its message id: an `error` that answers it names it in `replyTo`. */
  id: string;
  /** Characters of output it carries (`task.output`; 0 for every other type), for the buffer limit. */
  outputChars: number;
}

/** What the agent remembers about one assigned task. */
/** An assignment taken while every slot was busy, and when it came. */
interface Held {
  assign: MessageOf<"task.assign">;
  since: number;
}

interface Run {
  taskId: string;
  epoch: number;
  handle: RunHandle | undefined;
  /** The process (or handler) is still going: the run holds a slot. */
  active: boolean;
  /** Nothing more may be sent for this run (lease gone, or handed back while draining). */
  silent: boolean;
  /** Messages produced while no welcomed session was open (or the socket was full), in order. */
  outbox: Frame[];
  outboxOutputBytes: number;
  droppedOutputBytes: number;
  /** The `seq` of the run's first output chunk (the assignment's `seqFrom`): added to the runner's. */
  seqFrom: number;
  /** When the run started (agent clock). */
  startedAt: number;
  /** Sends the run's `task.accept` once it has run `acceptDelayMs`; undefined once sent or not needed. */
  acceptTimer: NodeJS.Timeout | undefined;
}

/** Close code of a connection refused on policy (token not valid for this node, protocol abuse). */
const CLOSE_POLICY = 1008;
/** Close code the coordinator uses when a newer connection of the same node replaced this one. */
const CLOSE_REPLACED = 4000;

/** Recent message ids of run messages, to find the run an `error` answers when it lacks details. */
const SENT_INDEX_LIMIT = 4096;
/**
 * Assignments offered to be held beyond the slots by default. The coordinator decides how many it sends
 * (about 10 ms of work per slot), so this bounds only the tiniest tasks: at 64, three agents of no-op
 * calls ran out of held work between refills and the fleet's cores were idle a fifth of the time.
 */
const DEFAULT_PREFETCH = 256;

/**
 * A turn's frames are written early once they reach this many characters: the socket's own backlog
 * (`bufferedAmount`) then tells what the peer has not taken yet, as with one write per frame.
 */
const OUTBOX_WRITE_CHARS = 64 * 1024;

/** Room left in a message id (1..128 characters) for the counter after the node id. */
const MESSAGE_ID_PREFIX_CHARS = 112;

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
  // Prepared once: each run only adds its own env (and its secrets) to it.
  const { FLOTILLA_TOKEN: _agentToken, ...taskBaseEnv } = process.env;
  const taskEnv = prepareEnv(taskBaseEnv, [options.token]);

  let fingerprint = options.fingerprint;
  let capabilities: string[] = [];
  let slots = options.slots ?? 1;
  let prefetch = options.prefetch ?? 0;
  let heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000;

  const runs = new Map<string, Run>();
  /** Assignments taken while every slot was busy, in the order they came: started as slots free up. */
  const held = new Map<string, Held>();
  const maxHoldMs = options.maxHoldMs ?? 100;
  const acceptDelayMs = options.acceptDelayMs ?? 20;
  /** Hands back held assignments that waited `maxHoldMs`; set while anything is held. */
  let holdTimer: NodeJS.Timeout | undefined;
  // A ring of the latest run messages sent (id, task): one slot overwritten per send, searched only when an
  // error names a message without its task.
  const sentIds: (string | undefined)[] = new Array(SENT_INDEX_LIMIT);
  const sentTasks: (string | undefined)[] = new Array(SENT_INDEX_LIMIT);
  let sentNext = 0;
  let ws: WebSocket | undefined;
  /** The frames of this turn for `ws`, written together when the turn ends (one per socket). */
  let outbox: FrameOutbox | undefined;
  /** Characters queued in `outbox` and not yet written: the socket's backlog includes them. */
  let outboxChars = 0;
  /** Message ids: the node id and a counter, unique within this agent's life (ids only pair replies). */
  const messageIdPrefix = `${id.slice(0, MESSAGE_ID_PREFIX_CHARS)}-`;
  let messageCount = 0;
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

  /** The assignments waiting for a slot, as leases this agent holds. */
  const heldRefs = (): RunRef[] =>
    [...held.values()].map(({ assign: a }) => ({ taskId: a.taskId, epoch: a.epoch }));

  /**
   * The leases this agent holds: runs going on, runs ended whose finish is still waiting to be sent
   * (the coordinator would otherwise take their lease for lost), and assignments waiting for a slot.
   */
  const activeRefs = (): RunRef[] => [
    ...[...runs.values()]
      .filter((r) => (r.active || r.outbox.length > 0) && !r.silent)
      .map((r) => ({ taskId: r.taskId, epoch: r.epoch })),
    ...heldRefs(),
  ];

  function nextMessageId(): string {
    messageCount += 1;
    return messageIdPrefix + messageCount.toString(36);
  }

  /**
   * Encodes a frame the agent builds from known-good fields, without a schema check (the coordinator
   * checks what it receives). The hot frames go this way: task.accept, output, progress, finish, reject,
   * heartbeat, steal.request.
   */
  function frame<T extends MessageType>(type: T, fields: MessageFields<T>, outputChars = 0): Frame {
    const messageId = nextMessageId();
    return {
      text: encodeFields(type, fields, { from: id, id: messageId, now: clock }),
      id: messageId,
      outputChars,
    };
  }

  /** Builds and checks a frame against the schema (throws E_SCHEMA): for rare frames, and doubtful fields. */
  function checkedFrame<T extends MessageType>(type: T, fields: MessageFields<T>): Frame {
    const messageId = nextMessageId();
    const message = createMessage(type, fields, { from: id, id: messageId, now: clock });
    return { text: encode(message), id: messageId, outputChars: 0 };
  }

  /** Queues a frame for the socket (written at the end of this turn); false when no socket is open. */
  function sendNow(text: string): boolean {
    const turn = outbox;
    if (turn === undefined) return false;
    if (turn.pending === 0) outboxChars = 0;
    if (!turn.push(text)) return false;
    outboxChars += text.length;
    if (outboxChars >= OUTBOX_WRITE_CHARS) {
      turn.flush();
      outboxChars = 0;
    }
    return true;
  }

  /**
   * Sends a message about a run now, or keeps it for the next welcome when no session is open; true when
   * it went into the socket's outbox now.
   */
  function sendForRun(run: Run, message: Frame): boolean {
    if (run.silent) return false;
    // Behind earlier queued messages of the run, or behind a full socket, it queues too: order is kept.
    if (welcomed && run.outbox.length === 0 && socketHasRoom() && sendNow(message.text)) {
      rememberSent(message.id, run.taskId);
      return true;
    }
    run.outbox.push(message);
    if (message.outputChars === 0) return false;
    run.outboxOutputBytes += message.outputChars;
    while (run.outboxOutputBytes > maxBufferedOutputBytes) {
      const index = run.outbox.findIndex((m) => m.outputChars > 0);
      const [dropped] = index < 0 ? [] : run.outbox.splice(index, 1);
      if (dropped === undefined) break;
      run.outboxOutputBytes -= dropped.outputChars;
      if (run.droppedOutputBytes === 0) {
        logger.warn(
          { taskId: run.taskId, limitBytes: maxBufferedOutputBytes },
          "output buffer full (disconnected or slow link): dropping the oldest output",
        );
      }
      run.droppedOutputBytes += dropped.outputChars;
    }
    return false;
  }

  /**
   * False while the socket holds more unsent bytes than allowed (counting this turn's queued frames): the
   * link is slower than the output.
   */
  function socketHasRoom(): boolean {
    if (ws === undefined) return false;
    const queued = outbox !== undefined && outbox.pending > 0 ? outboxChars : 0;
    return ws.bufferedAmount + queued < maxSocketBufferBytes;
  }

  /**
   * Sends queued run messages while the socket has room (all of them when `force`), and forgets runs
   * that are over once their last message is out.
   */
  function flushOutboxes(force = false): void {
    if (!welcomed) return;
    for (const run of [...runs.values()]) {
      while (run.outbox.length > 0 && (force || socketHasRoom())) {
        const queued = run.outbox[0] as Frame;
        if (!sendNow(queued.text)) return;
        run.outbox.shift();
        run.outboxOutputBytes -= queued.outputChars;
        rememberSent(queued.id, run.taskId);
      }
      if (!run.active && run.outbox.length === 0) runs.delete(run.taskId);
    }
  }

  function rememberSent(messageId: string, taskId: string): void {
    sentIds[sentNext] = messageId;
    sentTasks[sentNext] = taskId;
    sentNext = (sentNext + 1) % SENT_INDEX_LIMIT;
  }

  /** Stops a run at once and forgets it: its lease belongs to someone else now. */
  function killSilently(run: Run, why: string): void {
    logger.warn({ taskId: run.taskId, epoch: run.epoch }, `killing run: ${why}`);
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    run.silent = true;
    run.outbox = [];
    run.handle?.kill();
    runs.delete(run.taskId);
  }

  /** Sends the run's `task.accept` now (its delay ran out, or output comes first). */
  function sendAccept(run: Run): void {
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    if (!run.active || run.silent) return;
    const runningForMs = Math.max(0, Math.round(clock() - run.startedAt));
    sendForRun(run, frame("task.accept", { taskId: run.taskId, epoch: run.epoch, runningForMs }));
  }

  function onRunOutput(run: Run, chunk: OutputChunk): void {
    if (run.acceptTimer !== undefined) sendAccept(run);
    const fields = {
      taskId: run.taskId,
      epoch: run.epoch,
      stream: chunk.stream,
      seq: run.seqFrom + chunk.seq,
      data: chunk.data,
    };
    sendForRun(run, frame("task.output", fields, chunk.data.length));
  }

  /** The finish frame; a handler result that JSON cannot carry (a BigInt, a cycle) fails the run instead. */
  function finishFrame(fields: MessageFields<"task.finish">): Frame {
    try {
      return frame("task.finish", fields);
    } catch (error) {
      const { result: _unsendable, ...rest } = fields;
      const message = `the handler's result cannot be sent as JSON: ${error instanceof Error ? error.message : String(error)}`;
      return frame("task.finish", { ...rest, outcome: "failed", error: { code: "E_HANDLER", message } });
    }
  }

  function onRunDone(run: Run, result: RunResult): void {
    run.active = false;
    if (run.silent) {
      if (runs.get(run.taskId) === run) runs.delete(run.taskId);
      startHeld();
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
    // Ended before its accept went out: the finish alone says it all (a finish is valid straight from
    // leased, and its durationMs dates the start).
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    sendForRun(run, finishFrame(fields));
    if (run.outbox.length === 0 && runs.get(run.taskId) === run) runs.delete(run.taskId);
    logger.info(
      { taskId: run.taskId, outcome: result.outcome, durationMs: result.durationMs },
      "task finished",
    );
    // The next held assignment takes the slot in this turn, with no round trip to the coordinator.
    startHeld();
    notifyIdle();
  }

  function reject(taskId: string, epoch: number, code: ErrorCode, reason: string): void {
    sendNow(frame("task.reject", { taskId, epoch, code, reason }).text);
  }

  function startRun(run: Run, spec: TaskSpec, attempt: number): RunHandle {
    // Options are built up by assignment: in V8, properties written after a spread in one object literal
    // (`{ ...common, taskId }`) take a slow path that cost a microsecond or more per run.
    const onOutput = (chunk: OutputChunk): void => onRunOutput(run, chunk);
    if (spec.kind === "call") {
      const handler = handlers[spec.handler];
      if (handler === undefined) throw new FlotillaError("E_INTERNAL", "handler vanished");
      const callOptions: CallOptions = {
        taskId: run.taskId,
        attempt,
        onOutput,
        onProgress: (percent, message) => {
          const fields: MessageFields<"task.progress"> = { taskId: run.taskId, epoch: run.epoch, percent };
          if (message !== undefined) fields.message = message;
          // A NaN percent or a message that is not a string is the handler's mistake: it gets the error.
          const valid = Number.isFinite(percent) && (message === undefined || typeof message === "string");
          if (run.acceptTimer !== undefined) sendAccept(run);
          sendForRun(run, valid ? frame("task.progress", fields) : checkedFrame("task.progress", fields));
        },
      };
      if (spec.timeoutMs !== undefined) callOptions.timeoutMs = spec.timeoutMs;
      return startCall(handler, spec.payload, callOptions);
    }
    const execSpec: ExecSpec = { cwd: spec.cwd ?? options.workDir ?? process.cwd() };
    if (spec.argv !== undefined) execSpec.argv = spec.argv;
    if (spec.shell !== undefined) execSpec.shell = spec.shell;
    if (spec.env !== undefined) execSpec.env = spec.env;
    const execOptions: ExecOptions = { onOutput, killGraceMs, preparedEnv: taskEnv };
    if (spec.timeoutMs !== undefined) execOptions.timeoutMs = spec.timeoutMs;
    if (options.spawner !== undefined) execOptions.spawner = options.spawner;
    return startExec(execSpec, execOptions);
  }

  function onAssign(message: MessageOf<"task.assign">): void {
    const { taskId, epoch, spec } = message;
    lastAssignAt = clock();
    if (draining) {
      reject(taskId, epoch, "E_DRAINING", "node is shutting down");
      return;
    }
    const waiting = held.get(taskId);
    if (waiting !== undefined) {
      // Already held: a repeat waits where it is; a newer lease takes the old one's place in line.
      if (waiting.assign.epoch < epoch) waiting.assign = message;
      else if (waiting.assign.epoch > epoch)
        reject(taskId, epoch, "E_STALE_EPOCH", "a newer lease is held here");
      return;
    }
    const existing = runs.get(taskId);
    if (existing !== undefined) {
      if (existing.epoch === epoch) {
        // A repeated assignment (the coordinator did not see our accept): say yes again, run it once.
        if (existing.active) sendNow(frame("task.accept", { taskId, epoch }).text);
        return;
      }
      if (existing.epoch > epoch) {
        reject(taskId, epoch, "E_STALE_EPOCH", "a newer lease is running here");
        return;
      }
      killSilently(existing, `superseded by epoch ${epoch}`);
    }
    if (spec.kind === "call" && handlers[spec.handler] === undefined) {
      reject(taskId, epoch, "E_HANDLER", `no handler named ${spec.handler} on node ${id}`);
      return;
    }
    if (activeCount() >= slots) {
      if (held.size < prefetch) hold(message);
      else reject(taskId, epoch, "E_QUEUE_FULL", `all ${slots} slots are busy`);
      return;
    }
    begin(message);
  }

  /** Starts an assignment in a free slot; its accept goes out once it has run `acceptDelayMs`. */
  function begin(message: MessageOf<"task.assign">): void {
    const { taskId, epoch, attempt, spec } = message;
    const run: Run = {
      taskId,
      epoch,
      handle: undefined,
      active: true,
      silent: false,
      outbox: [],
      outboxOutputBytes: 0,
      droppedOutputBytes: 0,
      seqFrom: message.seqFrom ?? 0,
      startedAt: clock(),
      acceptTimer: undefined,
    };
    runs.set(taskId, run);
    if (acceptDelayMs === 0) sendAccept(run);
    else {
      run.acceptTimer = setTimeout(() => sendAccept(run), acceptDelayMs);
      run.acceptTimer.unref();
    }
    logger.info({ taskId, epoch, attempt, kind: spec.kind }, "task accepted");
    const handle = startRun(run, spec, attempt);
    run.handle = handle;
    void handle.done.then((result) => onRunDone(run, result));
  }

  /** Keeps an assignment until a slot frees up, for at most `maxHoldMs`. */
  function hold(assign: MessageOf<"task.assign">): void {
    held.set(assign.taskId, { assign, since: clock() });
    holdTimer ??= setTimeout(expireHeld, maxHoldMs);
  }

  /** Hands back what has waited `maxHoldMs` (every slot stayed busy: these tasks are better placed again). */
  function expireHeld(): void {
    holdTimer = undefined;
    const now = clock();
    for (const [taskId, waiting] of held) {
      const left = waiting.since + maxHoldMs - now;
      if (left > 0) {
        // Held in arrival order: the rest are younger.
        holdTimer = setTimeout(expireHeld, left);
        return;
      }
      held.delete(taskId);
      reject(
        taskId,
        waiting.assign.epoch,
        "E_QUEUE_FULL",
        `held ${now - waiting.since} ms while all ${slots} slots stayed busy`,
      );
    }
  }

  function dropHeld(taskId: string): void {
    held.delete(taskId);
    if (held.size === 0 && holdTimer !== undefined) {
      clearTimeout(holdTimer);
      holdTimer = undefined;
    }
  }

  /** Starts held assignments while slots are free (none while draining: those are handed back). */
  function startHeld(): void {
    while (held.size > 0 && !draining && activeCount() < slots) {
      const [taskId, next] = held.entries().next().value as [string, Held];
      dropHeld(taskId);
      begin(next.assign);
    }
  }

  /** Hands back every held assignment: the coordinator places them again. */
  function releaseHeld(code: ErrorCode, reason: string): void {
    for (const { assign } of held.values()) reject(assign.taskId, assign.epoch, code, reason);
    clearHeld();
  }

  function clearHeld(): void {
    held.clear();
    if (holdTimer !== undefined) clearTimeout(holdTimer);
    holdTimer = undefined;
  }

  function onCancel(message: MessageOf<"task.cancel">): void {
    const waiting = held.get(message.taskId)?.assign;
    if (waiting !== undefined && (message.epoch === undefined || message.epoch === waiting.epoch)) {
      // Never started: it ends here, cancelled, without a slot.
      dropHeld(message.taskId);
      logger.info({ taskId: waiting.taskId, reason: message.reason }, "cancelling held task");
      sendNow(
        frame("task.finish", {
          taskId: waiting.taskId,
          epoch: waiting.epoch,
          outcome: "cancelled",
          exitCode: null,
          signal: null,
          durationMs: 0,
          error: { code: "E_CANCELLED", message: message.reason ?? "cancelled" },
        }).text,
      );
      return;
    }
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
          : sentTasks[sentIds.indexOf(message.replyTo)];
    const waiting = taskId === undefined ? undefined : held.get(taskId)?.assign;
    if (waiting !== undefined && (typeof details.epoch !== "number" || details.epoch === waiting.epoch)) {
      dropHeld(waiting.taskId);
      return;
    }
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
    for (const { assign } of [...held.values()]) {
      if (!keep.has(`${assign.taskId}@${assign.epoch}`)) dropHeld(assign.taskId);
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
      frame("heartbeat", {
        capabilities,
        status: draining ? "offline" : used >= slots ? "busy" : "ready",
        load: sampleLoad(used, slots),
        running: activeRefs(),
      }).text,
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
    sendNow(frame("steal.request", { freeSlots: free }).text);
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
    clearHeld();
    options.onFatal?.(error);
  }

  function connect(): void {
    if (closed) return;
    const socket = new WebSocket(endpoint, {
      headers: { Authorization: `Bearer ${options.token}` },
      handshakeTimeout: Math.min(connectTimeoutMs, 10_000),
    });
    ws = socket;
    outbox = new FrameOutbox(socket);
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
      const running = [
        ...[...runs.values()].filter((r) => !r.silent).map((r) => ({ taskId: r.taskId, epoch: r.epoch })),
        ...heldRefs(),
      ];
      sendNow(checkedFrame("agent.hello", { node, running, handlers: Object.keys(handlers), prefetch }).text);
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
      outbox?.clear();
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
    prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 1024)
      throw new FlotillaError("E_CONFIG", `prefetch must be 0..1024, got ${prefetch}`);
    if (!(acceptDelayMs >= 0))
      throw new FlotillaError("E_CONFIG", `acceptDelayMs must be >= 0, got ${acceptDelayMs}`);
    if (!(maxHoldMs > 0)) throw new FlotillaError("E_CONFIG", `maxHoldMs must be > 0, got ${maxHoldMs}`);
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
    releaseHeld("E_DRAINING", "node is shutting down");
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
    sendNow(checkedFrame("agent.bye", { reason: "shutdown" }).text);
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
          // What this turn queued (the bye, the last finishes) is written before the close frame.
          outbox?.flush();
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
