/**
 * The node agent's wiring: {@link createAgent} builds the modules under `agent/` (options, node state,
 * connection, run outbox, runs, held assignments, heartbeat, lease watch), routes each coordinator
 * message to the one that owns it, and runs the agent's life: start (measure the machine, connect, wait
 * for the welcome) and the graceful stop (hand back held work, let runs finish, say goodbye). Decisions
 * that span modules live here: what an assignment becomes (run, held, rejected), what a welcome keeps,
 * what a stale lease or a cut-off from the coordinator kills.
 */
import { hostname } from "node:os";
import {
  decode,
  type ErrorCode,
  FlotillaError,
  type MessageOf,
  PROTOCOL_VERSION,
  type RunRef,
} from "@flotilla/protocol";
import type WebSocket from "ws";
import { Connection } from "./agent/connection.js";
import { Heartbeat } from "./agent/heartbeat.js";
import { HeldAssignments } from "./agent/held.js";
import { LeaseWatch } from "./agent/lease-watch.js";
import { initialNodeState, prepareNode, refreshNodeEvery } from "./agent/node-state.js";
import { type Agent, type AgentOptions, resolveSettings, type StopOptions } from "./agent/options.js";
import { RunOutbox } from "./agent/run-outbox.js";
import { type Run, Runs } from "./agent/runs.js";
import type { Fingerprint } from "./fingerprint.js";
import { AGENT_VERSION } from "./version.js";

export type { Agent, AgentOptions, StopOptions } from "./agent/options.js";

/**
 * Creates a node agent: it connects to the coordinator, says hello with its fingerprint, heartbeats, runs
 * what it is assigned within its slots, streams output, and keeps runs alive across reconnects.
 */
export function createAgent(options: AgentOptions): Agent {
  const settings = resolveSettings(options);
  const { id, logger, handlers } = settings;
  const node = initialNodeState(settings);

  const outbox = new RunOutbox(settings);
  const runs = new Runs(settings, outbox, {
    slotFreed: () => held.startWaiting(),
    finished: () => notifyIdle(),
  });
  const held = new HeldAssignments(settings, {
    canStart: () => !node.draining && runs.activeCount() < node.slots,
    begin: (assign) => runs.begin(assign),
    reject,
    slots: () => node.slots,
  });
  const heartbeat = new Heartbeat(settings, node, outbox, {
    activeCount: () => runs.activeCount(),
    running: activeRefs,
    flushRuns: () => runs.flush(),
    ping: () => connection.ping(),
  });
  const connection = new Connection(settings, outbox, {
    opened: sendHello,
    message: onFrame,
    pong: () => leaseWatch.heard(),
    lost: () => heartbeat.stopBeating(),
    fatal: fail,
  });

  const leaseWatch = new LeaseWatch(cutOff, () => connection.ping());

  let refreshTimer: NodeJS.Timeout | undefined;
  let startWaiter: { resolve: () => void; reject: (error: FlotillaError) => void } | undefined;
  let stopPromise: Promise<void> | undefined;
  let cutGraceShort: (() => void) | undefined;
  /** Set by a second stop({ now: true }): leftover runs get SIGKILL instead of a grace period. */
  let urgent = false;
  /** A run ended; wakes a graceful stop that waits for the last one. */
  let idleWaiters: Array<() => void> = [];

  /** The leases this agent holds: runs going on and assignments waiting for a slot. */
  function activeRefs(): RunRef[] {
    return [...runs.activeRefs(), ...held.refs()];
  }

  function notifyIdle(): void {
    if (runs.activeCount() > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  }

  function reject(taskId: string, epoch: number, code: ErrorCode, reason: string): void {
    outbox.sendNow(outbox.frame("task.reject", { taskId, epoch, code, reason }).text);
  }

  function sendHello(): void {
    const hello = {
      id,
      host: hostname(),
      version: AGENT_VERSION,
      fingerprint: node.fingerprint as Fingerprint,
      labels: settings.labels,
      capabilities: node.capabilities,
      slots: node.slots,
    };
    const running = [...runs.reportingRefs(), ...held.refs()];
    const fields = {
      node: hello,
      running,
      handlers: Object.keys(handlers),
      prefetch: node.prefetch,
      protocol: PROTOCOL_VERSION,
    };
    outbox.sendNow(outbox.checkedFrame("agent.hello", fields).text);
  }

  /**
   * Nothing heard from the coordinator for longer than the lease (partitioned, or this agent was frozen):
   * it has declared this node dead and given its work to others. The runs are killed and held work is
   * dropped, with nothing reported for either; the session, in doubt, is cut and made anew.
   */
  function cutOff(silentForMs: number): void {
    const tasks = [...runs.table.keys(), ...held.assignments().map((assign) => assign.taskId)];
    if (tasks.length > 0) {
      logger.warn(
        { tasks, silentForMs },
        "cut off from the coordinator for longer than the lease: stopping runs now given to other nodes",
      );
    }
    for (const run of [...runs.table.values()]) runs.killSilently(run, "cut off longer than its lease");
    held.clear();
    connection.drop();
  }

  function onFrame(data: WebSocket.RawData): void {
    leaseWatch.heard();
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

  function onWelcome(message: MessageOf<"agent.welcome">): void {
    node.heartbeatIntervalMs = message.heartbeatIntervalMs;
    leaseWatch.welcomed(message.deadAfterMs);
    const keep = new Set(message.keep.map((r) => `${r.taskId}@${r.epoch}`));
    for (const run of [...runs.table.values()]) {
      if (!keep.has(`${run.taskId}@${run.epoch}`)) {
        runs.killSilently(run, "the coordinator did not keep its lease");
      }
    }
    for (const assign of held.assignments()) {
      if (!keep.has(`${assign.taskId}@${assign.epoch}`)) held.drop(assign.taskId);
    }
    outbox.welcomed = true;
    runs.flush();
    connection.welcomed();
    heartbeat.assigned();
    const { nodeId, heartbeatIntervalMs } = message;
    logger.info({ nodeId, heartbeatIntervalMs, url: connection.endpoint }, "welcomed by coordinator");
    heartbeat.startBeating();
    const waiter = startWaiter;
    startWaiter = undefined;
    waiter?.resolve();
  }

  function onAssign(message: MessageOf<"task.assign">): void {
    const { taskId, epoch, spec } = message;
    heartbeat.assigned();
    if (node.draining) {
      reject(taskId, epoch, "E_DRAINING", "node is shutting down");
      return;
    }
    const waiting = held.get(taskId);
    if (waiting !== undefined) {
      // Already held: a repeat waits where it is; a newer lease takes the old one's place in line.
      if (waiting.epoch < epoch) held.replace(message);
      else if (waiting.epoch > epoch) reject(taskId, epoch, "E_STALE_EPOCH", "a newer lease is held here");
      return;
    }
    const existing = runs.get(taskId);
    if (existing !== undefined) {
      if (existing.epoch === epoch) {
        // A repeated assignment (the coordinator did not see our accept): say yes again, run it once.
        if (existing.active) outbox.sendNow(outbox.frame("task.accept", { taskId, epoch }).text);
        return;
      }
      if (existing.epoch > epoch) {
        reject(taskId, epoch, "E_STALE_EPOCH", "a newer lease is running here");
        return;
      }
      runs.killSilently(existing, `superseded by epoch ${epoch}`);
    }
    if (spec.kind === "call" && handlers[spec.handler] === undefined) {
      reject(taskId, epoch, "E_HANDLER", `no handler named ${spec.handler} on node ${id}`);
      return;
    }
    if (runs.activeCount() >= node.slots) {
      if (held.size < node.prefetch) held.hold(message);
      else reject(taskId, epoch, "E_QUEUE_FULL", `all ${node.slots} slots are busy`);
      return;
    }
    runs.begin(message);
  }

  function onCancel(message: MessageOf<"task.cancel">): void {
    const waiting = held.get(message.taskId);
    if (waiting !== undefined && (message.epoch === undefined || message.epoch === waiting.epoch)) {
      // Never started: it ends here, cancelled, without a slot.
      held.drop(message.taskId);
      logger.info({ taskId: waiting.taskId, reason: message.reason }, "cancelling held task");
      const finish = outbox.frame("task.finish", {
        taskId: waiting.taskId,
        epoch: waiting.epoch,
        outcome: "cancelled",
        exitCode: null,
        signal: null,
        durationMs: 0,
        error: { code: "E_CANCELLED", message: message.reason ?? "cancelled" },
      });
      outbox.sendNow(finish.text);
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
          : outbox.taskOfMessage(message.replyTo);
    const waiting = taskId === undefined ? undefined : held.get(taskId);
    if (waiting !== undefined && (typeof details.epoch !== "number" || details.epoch === waiting.epoch)) {
      held.drop(waiting.taskId);
      return;
    }
    const run = taskId === undefined ? undefined : runs.get(taskId);
    if (run === undefined) return;
    if (typeof details.epoch === "number" && details.epoch !== run.epoch) return;
    runs.killSilently(run, "lease is stale");
  }

  function fail(error: FlotillaError): void {
    connection.abort();
    leaseWatch.stop();
    const waiter = startWaiter;
    startWaiter = undefined;
    if (waiter !== undefined) {
      waiter.reject(error);
      return;
    }
    logger.error({ code: error.code }, error.message);
    for (const run of [...runs.table.values()]) runs.killSilently(run, "agent gave up");
    held.clear();
    options.onFatal?.(error);
  }

  async function start(): Promise<void> {
    if (connection.closed) throw new FlotillaError("E_CONFLICT", "agent already stopped");
    await prepareNode(settings, node);
    const welcome = new Promise<void>((resolve, reject) => {
      startWaiter = { resolve, reject };
    });
    const endpoints = settings.endpoints.join(", ");
    const { connectTimeoutMs } = settings;
    const deadline = setTimeout(() => {
      fail(
        new FlotillaError("E_COORDINATOR_UNAVAILABLE", `cannot reach coordinator at ${endpoints}`, {
          details: { url: endpoints, waitedMs: connectTimeoutMs },
        }),
      );
    }, connectTimeoutMs);
    connection.connect();
    try {
      await welcome;
    } finally {
      clearTimeout(deadline);
    }
    heartbeat.startTicking();
    refreshTimer = refreshNodeEvery(settings, node, () => connection.closed);
  }

  /** Waits until no run holds a slot, or the grace period ends, or a second stop cuts it short. */
  function waitForRuns(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, settings.shutdownGraceMs);
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

  async function drain(now: boolean): Promise<void> {
    node.draining = true;
    held.release("E_DRAINING", "node is shutting down");
    heartbeat.send();
    if (!now && runs.activeCount() > 0) await waitForRuns();
    // Hand back what did not finish: the coordinator requeues it elsewhere; no finish follows.
    const leftover = [...runs.table.values()].filter((r) => r.active && !r.silent);
    for (const run of leftover) {
      reject(run.taskId, run.epoch, "E_DRAINING", "node shut down before the task finished");
      run.silent = true;
      if (now || urgent) run.handle?.kill();
      else run.handle?.cancel();
    }
    // A cancelled process gets its grace period; a second signal (stop({ now })) makes it a SIGKILL.
    await Promise.all(leftover.map((run) => awaitWithEscalation(run)));
    runs.flush(true);
    outbox.sendNow(outbox.checkedFrame("agent.bye", { reason: "shutdown" }).text);
  }

  async function awaitWithEscalation(run: Run): Promise<void> {
    if (run.handle === undefined) return;
    const escalate = (): void => run.handle?.kill();
    const previous = cutGraceShort;
    cutGraceShort = () => {
      previous?.();
      escalate();
    };
    await run.handle.done;
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
      if (!connection.closed) await drain(stopOptions.now === true);
      heartbeat.stop();
      leaseWatch.stop();
      clearInterval(refreshTimer);
      await connection.close();
      const waiter = startWaiter;
      startWaiter = undefined;
      waiter?.reject(new FlotillaError("E_CANCELLED", "agent stopped before it was welcomed"));
    })();
    return stopPromise;
  }

  return {
    id,
    get capabilities() {
      return node.capabilities;
    },
    get slots() {
      return node.slots;
    },
    get slotsUsed() {
      return runs.activeCount();
    },
    get fingerprint() {
      return node.fingerprint;
    },
    get connected() {
      return outbox.welcomed;
    },
    start,
    stop,
  };
}
