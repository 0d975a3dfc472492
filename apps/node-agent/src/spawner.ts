import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { OutputStream } from "./output.js";

/** An environment as a spawner takes it. */
export type SpawnEnv = Readonly<Record<string, string | undefined>>;

/** What to start: a program and its arguments, always in a new process group. */
export interface SpawnRequest {
  file: string;
  args: string[];
  cwd?: string;
  /** The environment, merged over `baseEnv` when that is given. */
  env: SpawnEnv;
  /**
   * An environment many requests share, `env` being what one of them adds. Pass the same frozen object
   * each time: a spawner that starts processes in another process then sends it there only once.
   */
  baseEnv?: SpawnEnv;
  /**
   * Send SIGKILL to the process group as soon as the main process exits, before `onExit` is reported, so
   * whatever it left running cannot hold the pipes open.
   */
  killGroupOnExit?: boolean;
}

/** The whole environment of a request. */
function mergedEnv(request: SpawnRequest): SpawnEnv {
  return request.baseEnv === undefined ? request.env : { ...request.baseEnv, ...request.env };
}

/** Why a process could not be started (`code` is the errno name: ENOENT, EACCES, …). */
export interface SpawnFailure {
  code: string | undefined;
  message: string;
}

/**
 * What a spawner reports about one process, in this order: `onSpawn`, any number of `onData`, `onExit`,
 * `onClose`; or only `onError` when it could not be started.
 */
export interface ProcessEvents {
  onSpawn(pid: number): void;
  onData(stream: OutputStream, bytes: Uint8Array): void;
  /** The main process ended; its pipes may still be open (a grandchild holds them). */
  onExit(code: number | null, signal: string | null): void;
  /** Both pipes are closed: no more `onData`. */
  onClose(): void;
  onError(failure: SpawnFailure): void;
}

/** A started process, as far as the executor needs to steer it. */
export interface SpawnedProcess {
  /** Sends `signal` to the whole process group; a group that is gone is not an error. */
  signalGroup(signal: NodeJS.Signals): void;
  /** Stops reading the pipes (a grandchild keeps them open after the main process exited). */
  closePipes(): void;
}

/** Starts processes. One implementation spawns on the calling thread, the other on a worker thread. */
export interface Spawner {
  spawn(request: SpawnRequest, events: ProcessEvents): SpawnedProcess;
  /** Releases the spawner's resources (the worker thread); processes already started are not touched. */
  close(): Promise<void>;
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}

/**
 * Spawns on the calling thread. Simple, but each spawn holds the event loop for the fork + exec
 * (about 2 ms here, more under load), so a burst of spawns delays everything else the agent does.
 */
export const inlineSpawner: Spawner = {
  spawn(request, events) {
    let child: ChildProcess;
    try {
      child = spawn(request.file, request.args, {
        cwd: request.cwd,
        env: mergedEnv(request),
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      // Synchronous throws are argument errors (a NUL byte, say): reported like any failed start.
      const failure = { code: (error as NodeJS.ErrnoException).code, message: String(error) };
      queueMicrotask(() => events.onError(failure));
      return { signalGroup: () => {}, closePipes: () => {} };
    }
    const pid = child.pid;
    let failed = false;
    child.on("error", (error: NodeJS.ErrnoException) => {
      // With a pid the process started, and a later error is only a failed kill: the exit still comes.
      if (pid !== undefined || failed) return;
      failed = true;
      events.onError({ code: error.code, message: error.message });
    });
    if (pid !== undefined) {
      const started = pid;
      queueMicrotask(() => events.onSpawn(started));
      child.stdout?.on("data", (bytes: Buffer) => events.onData("stdout", bytes));
      child.stderr?.on("data", (bytes: Buffer) => events.onData("stderr", bytes));
      child.on("exit", (code, signal) => {
        if (request.killGroupOnExit) signalGroup(pid, "SIGKILL");
        events.onExit(code, signal);
      });
      child.on("close", () => events.onClose());
    }
    return {
      signalGroup: (signal) => signalGroup(pid, signal),
      closePipes: () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      },
    };
  },
  close: async () => {},
};

/** Messages main -> worker. */
type ToWorker =
  | { op: "spawn"; id: number; request: SpawnRequest }
  | { op: "signal"; id: number; signal: NodeJS.Signals }
  | { op: "closePipes"; id: number };

/** Messages worker -> main. */
type FromWorker =
  | { op: "spawn"; id: number; pid: number }
  | { op: "data"; id: number; stream: OutputStream; bytes: Uint8Array }
  | { op: "exit"; id: number; code: number | null; signal: string | null }
  | { op: "close"; id: number }
  | { op: "error"; id: number; failure: SpawnFailure };

/**
 * The worker's code, plain CommonJS so it runs the same from `src/` under a TS loader, from vitest and
 * from the built `dist/` (a separate worker file would need its own build entry and loader).
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { spawn } = require("node:child_process");
const children = new Map();
const post = (message) => parentPort.postMessage(message);
parentPort.on("message", (message) => {
  const entry = children.get(message.id);
  if (message.op === "spawn") {
    const { file, args, cwd, env, killGroupOnExit } = message.request;
    const id = message.id;
    let child;
    try {
      child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      post({ op: "error", id, failure: { code: error.code, message: String(error.message) } });
      return;
    }
    if (child.pid === undefined) {
      child.on("error", (error) => post({ op: "error", id, failure: { code: error.code, message: error.message } }));
      return;
    }
    children.set(id, child);
    child.on("error", () => {});
    post({ op: "spawn", id, pid: child.pid });
    // A read may be a view into a larger buffer, and cloning a view clones all of its buffer: send a tight copy then.
    const tight = (b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b));
    child.stdout.on("data", (bytes) => post({ op: "data", id, stream: "stdout", bytes: tight(bytes) }));
    child.stderr.on("data", (bytes) => post({ op: "data", id, stream: "stderr", bytes: tight(bytes) }));
    child.on("exit", (code, signal) => {
      if (killGroupOnExit) { try { process.kill(-child.pid, "SIGKILL"); } catch {} }
      post({ op: "exit", id, code, signal });
    });
    child.on("close", () => {
      children.delete(id);
      post({ op: "close", id });
    });
  } else if (message.op === "signal" && entry !== undefined) {
    try { process.kill(-entry.pid, message.signal); } catch {}
  } else if (message.op === "closePipes" && entry !== undefined) {
    entry.stdout.destroy();
    entry.stderr.destroy();
  }
});
`;

/**
 * Spawns on a worker thread, so the fork + exec of each spawn holds that thread and not the agent's event
 * loop; the pipes are read there too and their bytes posted over. Measured here with 8 spawns in flight:
 * main-loop delay p99 about 4 ms against about 30-50 ms with {@link inlineSpawner}, at a similar rate.
 * The worker is created on first use and does not keep the process alive while it has no processes.
 */
export class WorkerSpawner implements Spawner {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly live = new Map<number, { events: ProcessEvents; pid: number | undefined }>();

  spawn(request: SpawnRequest, events: ProcessEvents): SpawnedProcess {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    this.live.set(id, { events, pid: undefined });
    worker.ref();
    const { baseEnv: _base, ...rest } = request;
    this.post({ op: "spawn", id, request: { ...rest, env: mergedEnv(request) } });
    return {
      signalGroup: (signal) => {
        // Signalled from here when the pid is known: no round trip through a possibly busy worker.
        const pid = this.live.get(id)?.pid;
        if (pid !== undefined) signalGroup(pid, signal);
        else if (this.live.has(id)) this.post({ op: "signal", id, signal });
      },
      closePipes: () => {
        if (this.live.has(id)) this.post({ op: "closePipes", id });
      },
    };
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on("message", (message: FromWorker) => this.onMessage(message));
    worker.on("error", (error) => this.onWorkerGone(error.message));
    worker.on("exit", () => this.onWorkerGone("spawner thread exited"));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    const entry = this.live.get(message.id);
    if (entry === undefined) return;
    switch (message.op) {
      case "spawn":
        entry.pid = message.pid;
        entry.events.onSpawn(message.pid);
        break;
      case "data":
        entry.events.onData(message.stream, message.bytes);
        break;
      case "exit":
        entry.events.onExit(message.code, message.signal);
        break;
      case "close":
        this.forget(message.id);
        entry.events.onClose();
        break;
      case "error":
        this.forget(message.id);
        entry.events.onError(message.failure);
        break;
    }
  }

  private forget(id: number): void {
    this.live.delete(id);
    if (this.live.size === 0) this.worker?.unref();
  }

  /** A dead worker takes its pipes with it: every live process is reported ended, the next spawn makes a new one. */
  private onWorkerGone(reason: string): void {
    this.worker = undefined;
    const live = [...this.live.values()];
    this.live.clear();
    endLost(live, reason);
  }
}

/**
 * Reports processes whose spawner died as ended: the pipes went with it. One that never got a pid failed
 * to spawn; one that did is killed (its group) in case it outlived the pipes.
 */
function endLost(lost: readonly { pid: number | undefined; events: ProcessEvents }[], reason: string): void {
  for (const entry of lost) {
    if (entry.pid === undefined) {
      entry.events.onError({ code: undefined, message: reason });
    } else {
      signalGroup(entry.pid, "SIGKILL");
      entry.events.onExit(null, "SIGKILL");
      entry.events.onClose();
    }
  }
}

/*
 * The spawn helper's wire: frames of [u32 LE length of the rest][u8 op][u32 LE id][payload], both ways,
 * spoken by the Node.js helper below and by the native one (`native/spawn-helper.c`). Strings are UTF-8,
 * each ended by a NUL. Agent -> helper ops (the id is the process's, or the environment's for ENV and
 * DROP_ENV):
 */
/**
 * [u8 flags: 1 kill the group on exit, 2 a cwd follows][u32 env id, 0 for none][u32 argc][u32 envc], then
 * the file, the cwd, argc arguments and envc variables: "KEY=value" sets one over the base environment,
 * "KEY" alone removes it.
 */
const TO_SPAWN = 1;
const TO_SIGNAL = 2; // u32 signal number
const TO_CLOSE_PIPES = 3;
const TO_ENV = 4; // [u32 count] then that many "KEY=value": a base environment, kept under its id
const TO_DROP_ENV = 5;
/* Helper -> agent ops: */
const EV_READY = 0; // HELPER_HELLO, once, before anything else
const EV_SPAWN = 1; // u32 pid
const EV_STDOUT = 2; // bytes
const EV_STDERR = 3; // bytes
const EV_EXIT = 4; // [u32 exit code, 0xffffffff for none][u32 signal number, 0 for none]
const EV_CLOSE = 5; // the process exited and both pipes are closed: nothing more for this id
const EV_ERROR = 6; // [u32 errno, 0 for none] then a message, maybe empty: it could not be started

const SPAWN_KILL_GROUP = 1;
const SPAWN_HAS_CWD = 2;
const NO_EXIT_CODE = 0xffffffff;

const HELPER_HELLO = "flotilla-spawn-helper 2";
const FRAME_HEADER = 9;
/** Base environments a helper keeps at once (one per agent in practice). */
const HELPER_ENV_SLOTS = 8;
/** How long a new helper may take to say it is ready before the spawner tries the next way to spawn. */
const HELPER_READY_MS = 10_000;
/** How long the output of a helper that exited may take to be read to its end. */
const HELPER_DRAIN_MS = 1_000;

/**
 * The Node.js helper's code, plain CommonJS run with `node -e`. It lives as long as its control pipe
 * (stdin): it exits when the agent closes it or dies, and ignores the signals a terminal or a service
 * manager sends to the agent, whose graceful stop may still need it. Frames it sends are written once per
 * turn; while the agent reads slower than tasks write, the tasks' pipes are paused (they block, as on
 * any full pipe). A spawn is written to the agent as soon as spawn() returns, so a helper that dies leaves
 * no process the agent does not know of (it kills the groups of those it knows), but for one killed in
 * the microseconds between the two.
 */
const HELPER_SOURCE = `
"use strict";
const { spawn } = require("node:child_process");
const { Socket } = require("node:net");
const { constants } = require("node:os");
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});
const input = new Socket({ fd: 0, readable: true, writable: false });
const output = new Socket({ fd: 1, readable: false, writable: true });
const children = new Map();
const envs = new Map();
let queue = [];
let scheduled = false;
let paused = false;
const send = (op, id, payload) => {
  const head = Buffer.allocUnsafe(${FRAME_HEADER});
  head.writeUInt32LE(${FRAME_HEADER - 4} + (payload === undefined ? 0 : payload.length), 0);
  head[4] = op;
  head.writeUInt32LE(id, 5);
  queue.push(head);
  if (payload !== undefined && payload.length > 0) queue.push(payload);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
};
const u32s = (...values) => {
  const bytes = Buffer.allocUnsafe(4 * values.length);
  values.forEach((value, i) => bytes.writeUInt32LE(value, 4 * i));
  return bytes;
};
const sendError = (id, error) => {
  const errno = constants.errno[error.code] ?? 0;
  send(${EV_ERROR}, id, Buffer.concat([u32s(errno), Buffer.from(errno === 0 ? String(error.message) : "")]));
};
const streams = (entry) => [entry.child.stdout, entry.child.stderr];
const flush = () => {
  scheduled = false;
  if (queue.length === 0) return;
  const batch = queue.length === 1 ? queue[0] : Buffer.concat(queue);
  queue = [];
  if (!output.write(batch) && !paused) {
    paused = true;
    for (const entry of children.values()) for (const stream of streams(entry)) stream.pause();
  }
};
output.on("drain", () => {
  paused = false;
  for (const entry of children.values()) for (const stream of streams(entry)) stream.resume();
});
output.on("error", () => process.exit(0));
const finish = (id, entry) => {
  if (entry.open > 0 || !entry.exited || children.get(id) !== entry) return;
  children.delete(id);
  send(${EV_CLOSE}, id);
};
const strings = (bytes, offset, count) => {
  const out = [];
  for (let i = 0; i < count; i++) {
    const end = bytes.indexOf(0, offset);
    out.push(bytes.toString("utf8", offset, end));
    offset = end + 1;
  }
  return [out, offset];
};
const applyVars = (env, vars) => {
  for (const entry of vars) {
    const eq = entry.indexOf("=");
    if (eq < 0) delete env[entry];
    else env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
};
const start = (id, payload) => {
  const flags = payload[0];
  const base = envs.get(payload.readUInt32LE(1));
  const argc = payload.readUInt32LE(5);
  const envc = payload.readUInt32LE(9);
  const [[file, ...rest]] = strings(payload, 13, 1 + (flags & ${SPAWN_HAS_CWD} ? 1 : 0) + argc + envc);
  const cwd = flags & ${SPAWN_HAS_CWD} ? rest.shift() : undefined;
  const args = rest.slice(0, argc);
  const env = applyVars(Object.assign({}, base), rest.slice(argc));
  let child;
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    sendError(id, error);
    return;
  }
  if (child.pid === undefined) {
    child.on("error", (error) => sendError(id, error));
    return;
  }
  const pid = child.pid;
  const entry = { child, pid, exited: false, open: 2 };
  children.set(id, entry);
  child.on("error", () => {});
  send(${EV_SPAWN}, id, u32s(pid));
  // Written now, not at the end of the turn: until the agent has the pid, a helper that dies orphans it.
  flush();
  for (const [stream, op] of [[child.stdout, ${EV_STDOUT}], [child.stderr, ${EV_STDERR}]]) {
    let over = false;
    const end = () => {
      if (over) return;
      over = true;
      entry.open--;
      finish(id, entry);
    };
    stream.on("data", (bytes) => send(op, id, bytes));
    stream.on("end", end);
    stream.on("close", end);
    if (paused) stream.pause();
  }
  child.on("exit", (code, signal) => {
    entry.exited = true;
    if (flags & ${SPAWN_KILL_GROUP}) {
      try { process.kill(-pid, "SIGKILL"); } catch {}
    }
    send(${EV_EXIT}, id, u32s(code ?? ${NO_EXIT_CODE}, signal === null ? 0 : constants.signals[signal] ?? 0));
    finish(id, entry);
  });
};
const handle = (op, id, payload) => {
  if (op === ${TO_SPAWN}) return start(id, payload);
  if (op === ${TO_ENV}) return void envs.set(id, applyVars({}, strings(payload, 4, payload.readUInt32LE(0))[0]));
  if (op === ${TO_DROP_ENV}) return void envs.delete(id);
  const entry = children.get(id);
  if (entry === undefined) return;
  if (op === ${TO_SIGNAL}) {
    try { process.kill(-entry.pid, payload.readUInt32LE(0)); } catch {}
  } else if (op === ${TO_CLOSE_PIPES}) {
    for (const stream of streams(entry)) stream.destroy();
  }
};
let pending;
input.on("data", (chunk) => {
  const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
  let offset = 0;
  while (buffer.length - offset >= 4) {
    const length = buffer.readUInt32LE(offset);
    if (buffer.length - offset - 4 < length) break;
    handle(buffer[offset + 4], buffer.readUInt32LE(offset + 5), buffer.subarray(offset + ${FRAME_HEADER}, offset + 4 + length));
    offset += 4 + length;
  }
  pending = offset === buffer.length ? undefined : buffer.subarray(offset);
});
input.on("end", () => process.exit(0));
input.on("error", () => process.exit(0));
send(${EV_READY}, 0, Buffer.from(${JSON.stringify(HELPER_HELLO)}));
`;

/** Names by number, for what the helper reports in numbers (the first name wins: SIGABRT, not SIGIOT). */
function reverse(table: Readonly<Record<string, number | undefined>>): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(table)) {
    if (value !== undefined && !names.has(value)) names.set(value, name);
  }
  return names;
}
const signalNames = reverse(osConstants.signals);
const errnoNames = reverse(osConstants.errno);

/** "KEY=value" for each set variable of `env`; with `unset`, "KEY" for each undefined one. */
function envEntries(env: SpawnEnv, unset: boolean): string[] {
  const entries: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) entries.push(`${key}=${value}`);
    else if (unset) entries.push(key);
  }
  return entries;
}

/** NUL-terminated UTF-8 strings after a fixed header of `headerBytes` (filled by the caller). */
function packStrings(headerBytes: number, strings: readonly string[]): Buffer {
  let length = headerBytes;
  for (const text of strings) length += Buffer.byteLength(text) + 1;
  const bytes = Buffer.allocUnsafe(length);
  let offset = headerBytes;
  for (const text of strings) {
    offset += bytes.write(text, offset);
    bytes[offset++] = 0;
  }
  return bytes;
}

/** A TO_SPAWN payload, or undefined when a string holds a NUL byte (no process could be given it). */
function encodeSpawn(wire: {
  file: string;
  args: readonly string[];
  cwd: string | undefined;
  env: readonly string[];
  envId: number;
  killGroupOnExit: boolean;
}): Buffer | undefined {
  const strings = [wire.file, ...(wire.cwd === undefined ? [] : [wire.cwd]), ...wire.args, ...wire.env];
  if (strings.some((text) => text.includes("\0"))) return undefined;
  const payload = packStrings(13, strings);
  payload[0] = (wire.killGroupOnExit ? SPAWN_KILL_GROUP : 0) | (wire.cwd === undefined ? 0 : SPAWN_HAS_CWD);
  payload.writeUInt32LE(wire.envId, 1);
  payload.writeUInt32LE(wire.args.length, 5);
  payload.writeUInt32LE(wire.env.length, 9);
  return payload;
}

/** One process as the helper spawner tracks it. */
interface HelperEntry {
  events: ProcessEvents;
  request: SpawnRequest;
  pid: number | undefined;
  /** Signals asked for before the pid was known, and whether the pipes were to be closed. */
  signals: NodeJS.Signals[];
  pipesClosed: boolean;
  /** Set when the helper could not start: the process went to the fallback spawner instead. */
  redirect: SpawnedProcess | undefined;
}

function frameOf(op: number, id: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
  frame.writeUInt32LE(FRAME_HEADER - 4 + length, 0);
  frame[4] = op;
  frame.writeUInt32LE(id, 5);
  payload?.copy(frame, FRAME_HEADER);
  return frame;
}

/** One helper process and the processes it started. */
class HelperConnection {
  readonly live = new Map<number, HelperEntry>();
  ready = false;
  private queue: Buffer[] = [];
  private scheduled = false;
  private pending: Buffer | undefined;
  /** Base environments the helper holds, by object, oldest first (the helper keeps the same ones). */
  private readonly envIds = new Map<SpawnEnv, number>();
  private nextEnvId = 1;
  private readonly readyTimer: NodeJS.Timeout;
  private gone = false;

  constructor(
    private readonly proc: ChildProcess,
    /** Called once when the helper is gone (its `ready` tells whether it ever started). */
    private readonly onGone: (connection: HelperConnection, reason: string) => void,
  ) {
    proc.stdout?.on("data", (chunk: Buffer) => this.onData(chunk));
    proc.on("error", (error) => this.close(`spawn helper failed: ${error.message}`));
    // Gone once it exited and what it wrote before is read (a spawn report may still be in the pipe).
    let exited = false;
    let drained = proc.stdout === null;
    proc.stdout?.on("close", () => {
      drained = true;
      if (exited) this.close("spawn helper exited");
    });
    proc.on("exit", () => {
      exited = true;
      if (drained) this.close("spawn helper exited");
      else setTimeout(() => this.close("spawn helper exited"), HELPER_DRAIN_MS).unref();
    });
    // A helper that dies with frames unread can reset the pipes: its exit does the cleaning up.
    proc.stdin?.on("error", () => {});
    proc.stdout?.on("error", () => {});
    this.readyTimer = setTimeout(() => {
      proc.kill("SIGKILL");
      this.close("spawn helper did not start in time");
    }, HELPER_READY_MS);
    this.readyTimer.unref();
  }

  send(op: number, id: number, payload?: Buffer): void {
    this.queue.push(frameOf(op, id, payload));
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** The id the helper knows `env` by, sending it first when it does not hold it yet. */
  envId(env: SpawnEnv): number {
    const known = this.envIds.get(env);
    if (known !== undefined) {
      this.envIds.delete(env);
      this.envIds.set(env, known);
      return known;
    }
    const id = this.nextEnvId++;
    this.envIds.set(env, id);
    const entries = envEntries(env, false);
    const payload = packStrings(4, entries);
    payload.writeUInt32LE(entries.length, 0);
    this.send(TO_ENV, id, payload);
    if (this.envIds.size > HELPER_ENV_SLOTS) {
      const [oldest, oldId] = this.envIds.entries().next().value as [SpawnEnv, number];
      this.envIds.delete(oldest);
      this.send(TO_DROP_ENV, oldId);
    }
    return id;
  }

  /** Starts tracking a process; the first one holds the agent's process open while any runs. */
  add(id: number, entry: HelperEntry): void {
    this.live.set(id, entry);
    if (this.live.size === 1) this.setRef(true);
  }

  /** Stops tracking a process; after the last one the helper no longer keeps the agent alive. */
  forget(id: number): void {
    this.live.delete(id);
    if (this.live.size === 0) this.setRef(false);
  }

  setRef(on: boolean): void {
    const handles = [this.proc, this.proc.stdin as Socket | null, this.proc.stdout as Socket | null];
    for (const handle of handles) {
      if (on) handle?.ref();
      else handle?.unref();
    }
  }

  /** Ends the helper: it exits when its control pipe closes. */
  end(): Promise<void> {
    if (this.gone) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    this.proc.stdin?.end();
    return exited;
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (this.gone || queue.length === 0) return;
    this.proc.stdin?.write(queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue));
  }

  private onData(chunk: Buffer): void {
    const buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32LE(offset);
      if (!this.ready && length > FRAME_HEADER + HELPER_HELLO.length) {
        this.refuse();
        return;
      }
      if (buffer.length - offset - 4 < length) break;
      const op = buffer[offset + 4] as number;
      const id = buffer.readUInt32LE(offset + 5);
      this.onFrame(op, id, buffer.subarray(offset + FRAME_HEADER, offset + 4 + length));
      offset += 4 + length;
    }
    this.pending = offset === buffer.length ? undefined : buffer.subarray(offset);
  }

  private onFrame(op: number, id: number, payload: Buffer): void {
    if (!this.ready) {
      if (op !== EV_READY || payload.toString() !== HELPER_HELLO) {
        this.refuse();
        return;
      }
      this.ready = true;
      clearTimeout(this.readyTimer);
      this.scheduled = true;
      setImmediate(() => this.flush());
      return;
    }
    const entry = this.live.get(id);
    if (entry === undefined) return;
    switch (op) {
      case EV_SPAWN:
        entry.pid = payload.readUInt32LE(0);
        entry.events.onSpawn(entry.pid);
        break;
      case EV_STDOUT:
        entry.events.onData("stdout", payload);
        break;
      case EV_STDERR:
        entry.events.onData("stderr", payload);
        break;
      case EV_EXIT: {
        const code = payload.readUInt32LE(0);
        const signal = payload.readUInt32LE(4);
        entry.events.onExit(
          code === NO_EXIT_CODE ? null : code,
          signal === 0 ? null : (signalNames.get(signal) ?? `SIG${signal}`),
        );
        break;
      }
      case EV_CLOSE:
        this.forget(id);
        entry.events.onClose();
        break;
      case EV_ERROR: {
        this.forget(id);
        const errno = payload.readUInt32LE(0);
        const code = errno === 0 ? undefined : (errnoNames.get(errno) ?? `errno ${errno}`);
        const message = payload.toString("utf8", 4) || `spawn ${entry.request.file} ${code}`;
        entry.events.onError({ code, message });
        break;
      }
    }
  }

  /** What answered is not the helper (no greeting first): it is stopped, and counts as never started. */
  private refuse(): void {
    this.proc.kill("SIGKILL");
    this.close("spawn helper speaks another protocol");
  }

  private close(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.readyTimer);
    this.queue = [];
    this.onGone(this, reason);
  }
}

/** The ways a {@link HelperSpawner} starts processes, best first. */
export type SpawnPath = "native helper" | "node helper" | "fallback";

/** A helper program and how to run it. */
interface HelperProgram {
  path: SpawnPath;
  file: string;
  args: string[];
}

/** Where the build (`scripts/build-native.mjs`) puts the native helper, from `src/` and `dist/` alike. */
const NATIVE_HELPER = fileURLToPath(new URL("../native/build/flotilla-spawn-helper", import.meta.url));

/**
 * The native spawn helper to use, if any: `FLOTILLA_SPAWN_HELPER` names one (or is `node`, for none);
 * otherwise the one the package built, when it is there.
 */
export function nativeHelperPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.FLOTILLA_SPAWN_HELPER;
  if (chosen === "node") return undefined;
  const path = chosen === undefined || chosen === "" || chosen === "native" ? NATIVE_HELPER : chosen;
  try {
    accessSync(path, fsConstants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/**
 * Spawns through a small helper process, started on first use, which starts the processes, reads their
 * pipes and sends the bytes over. The agent's event loop only reads and writes one pipe; frames between
 * the two are batched per turn, and a base environment goes over once.
 *
 * Why a helper: a fork costs in proportion to the memory of the process that forks, and write-protects
 * all of it until the child execs, so every thread of that process then takes page faults on its next
 * writes: forking from the agent (or from an application that embeds it, whatever its heap) costs it more
 * than running the helper does.
 *
 * Which helper, best first:
 * - the native one (`native/spawn-helper.c`, built with the package where a C compiler is found), which
 *   starts processes with posix_spawn and so copies no page tables at all;
 * - a second `node` running {@link HELPER_SOURCE}, which forks a small process;
 * - where neither can run (no native build, and a binary that is not a plain `node`: a single-executable
 *   application, Electron), or each failed to start, `fallback` (default: a {@link WorkerSpawner}).
 * A helper that does not greet in time is given up for the next; processes sent to it go there too.
 */
export class HelperSpawner implements Spawner {
  private connection: HelperConnection | undefined;
  private nextId = 1;
  private fallbackSpawner: Spawner | undefined;
  /** The helpers still to try, the one in use first. */
  private readonly programs: HelperProgram[] = [];

  constructor(
    private readonly options: {
      fallback?: Spawner;
      /** The `node` for the Node.js helper (default: this process's). */
      execPath?: string;
      /** The native helper, or false for none (default: {@link nativeHelperPath}). */
      nativeHelper?: string | false;
    } = {},
  ) {
    const native = options.nativeHelper ?? nativeHelperPath();
    if (native !== false && native !== undefined) {
      this.programs.push({ path: "native helper", file: native, args: [] });
    }
    if (options.execPath !== undefined || helperSupported()) {
      const file = options.execPath ?? process.execPath;
      this.programs.push({ path: "node helper", file, args: ["-e", HELPER_SOURCE] });
    }
  }

  /** Where the next process goes. */
  get path(): SpawnPath {
    return this.programs[0]?.path ?? "fallback";
  }

  spawn(request: SpawnRequest, events: ProcessEvents): SpawnedProcess {
    const connection = this.ensureConnection();
    if (connection === undefined) return this.fallback().spawn(request, events);
    const base = request.baseEnv;
    const shared = base !== undefined && Object.isFrozen(base);
    const payload = encodeSpawn({
      file: request.file,
      args: request.args,
      cwd: request.cwd,
      env: envEntries(shared || base === undefined ? request.env : mergedEnv(request), true),
      envId: shared ? connection.envId(base) : 0,
      killGroupOnExit: request.killGroupOnExit === true,
    });
    if (payload === undefined) {
      // What spawn() itself throws for such a string: reported like any failed start.
      const failure = { code: "ERR_INVALID_ARG_VALUE", message: "arguments must not contain null bytes" };
      queueMicrotask(() => events.onError(failure));
      return { signalGroup: () => {}, closePipes: () => {} };
    }
    const id = this.nextId++;
    const entry: HelperEntry = {
      events,
      request,
      pid: undefined,
      signals: [],
      pipesClosed: false,
      redirect: undefined,
    };
    connection.add(id, entry);
    connection.send(TO_SPAWN, id, payload);
    return {
      signalGroup: (signal) => {
        if (entry.redirect !== undefined) entry.redirect.signalGroup(signal);
        // Signalled from here when the pid is known: no round trip through the helper.
        else if (entry.pid !== undefined) signalGroup(entry.pid, signal);
        else if (connection.live.get(id) === entry) {
          entry.signals.push(signal);
          const number = Buffer.allocUnsafe(4);
          number.writeUInt32LE(osConstants.signals[signal], 0);
          connection.send(TO_SIGNAL, id, number);
        }
      },
      closePipes: () => {
        if (entry.redirect !== undefined) entry.redirect.closePipes();
        else if (connection.live.get(id) === entry) {
          entry.pipesClosed = true;
          connection.send(TO_CLOSE_PIPES, id);
        }
      },
    };
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.end();
    await this.fallbackSpawner?.close();
  }

  private fallback(): Spawner {
    this.fallbackSpawner ??= this.options.fallback ?? new WorkerSpawner();
    return this.fallbackSpawner;
  }

  /** The running helper, started if need be; undefined when no helper is left to try. */
  private ensureConnection(): HelperConnection | undefined {
    if (this.connection !== undefined) return this.connection;
    while (this.programs.length > 0) {
      const program = this.programs[0] as HelperProgram;
      let proc: ChildProcess;
      try {
        proc = spawn(program.file, program.args, {
          // It needs nothing from the environment, and must not pick up NODE_OPTIONS meant for the agent.
          env: {},
          detached: true,
          stdio: ["pipe", "pipe", "inherit"],
        });
      } catch {
        this.programs.shift();
        continue;
      }
      const connection = new HelperConnection(proc, (gone, reason) => this.onGone(gone, reason));
      this.connection = connection;
      return connection;
    }
    return undefined;
  }

  private onGone(connection: HelperConnection, reason: string): void {
    if (this.connection === connection) this.connection = undefined;
    const live = [...connection.live.values()];
    connection.live.clear();
    connection.setRef(false);
    if (!connection.ready) {
      // It never started, so none of its processes did: they go the next way, and so does all that follows.
      this.programs.shift();
      for (const entry of live) {
        const redirect = this.spawn(entry.request, entry.events);
        entry.redirect = redirect;
        for (const signal of entry.signals) redirect.signalGroup(signal);
        if (entry.pipesClosed) redirect.closePipes();
      }
      return;
    }
    // A dead helper takes the pipes with it: every live process is reported ended; the next spawn starts a new one.
    endLost(live, reason);
  }
}

/** False where `process.execPath` is not a plain `node` that can run the helper. */
function helperSupported(): boolean {
  if (process.versions.electron !== undefined) return false;
  try {
    // Loaded by a name the bundler cannot see: it would strip the `node:` this module only exists under.
    const seaModule = "node:sea";
    const sea = createRequire(import.meta.url)(seaModule) as { isSea(): boolean };
    return !sea.isSea();
  } catch {
    return true;
  }
}

let shared: HelperSpawner | undefined;

/** The process-wide spawner the executor uses by default: a {@link HelperSpawner}. */
export function defaultSpawner(): HelperSpawner {
  shared ??= new HelperSpawner();
  return shared;
}
