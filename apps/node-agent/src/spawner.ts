/**
 * How the agent starts processes: the {@link Spawner} interface the executor uses, the simplest spawner
 * ({@link inlineSpawner}, on the calling thread) and the process-wide default ({@link defaultSpawner}, a
 * {@link HelperSpawner}). The other spawners and the programs they run live in `spawn/`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { OutputStream } from "./output.js";
import { HelperSpawner } from "./spawn/helper-spawner.js";
import { mergedEnv, signalGroup } from "./spawn/process-group.js";

export { HelperSpawner, nativeHelperPath, type SpawnPath } from "./spawn/helper-spawner.js";
export { WorkerSpawner } from "./spawn/worker-spawner.js";

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

let shared: HelperSpawner | undefined;

/** The process-wide spawner the executor uses by default: a {@link HelperSpawner}. */
export function defaultSpawner(): HelperSpawner {
  shared ??= new HelperSpawner();
  return shared;
}
