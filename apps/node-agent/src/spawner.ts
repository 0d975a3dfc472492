import { type ChildProcess, spawn } from "node:child_process";
import { Worker } from "node:worker_threads";
import type { OutputStream } from "./output.js";

/** What to start: a program and its arguments, always in a new process group. */
export interface SpawnRequest {
  file: string;
  args: string[];
  cwd?: string;
  env: Record<string, string | undefined>;
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
        env: request.env,
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
      child.on("exit", (code, signal) => events.onExit(code, signal));
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
    const { file, args, cwd, env } = message.request;
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
    child.on("exit", (code, signal) => post({ op: "exit", id, code, signal }));
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
    this.post({ op: "spawn", id, request });
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
    for (const entry of live) {
      if (entry.pid === undefined) {
        entry.events.onError({ code: undefined, message: reason });
      } else {
        signalGroup(entry.pid, "SIGKILL");
        entry.events.onExit(null, "SIGKILL");
        entry.events.onClose();
      }
    }
  }
}

let shared: WorkerSpawner | undefined;

/** The process-wide worker spawner the executor uses by default. */
export function defaultSpawner(): Spawner {
  shared ??= new WorkerSpawner();
  return shared;
}
