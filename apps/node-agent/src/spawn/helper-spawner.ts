/**
 * The default spawner: {@link HelperSpawner} starts processes through a small helper process (the native
 * one, else the Node.js one in `helper-process.ts`, else a fallback spawner), and finds the native
 * helper the package built. It owns the choice of helper and what happens to the processes of a helper
 * that is gone; the wire itself is `helper-connection.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import type { ProcessEvents, SpawnedProcess, Spawner, SpawnRequest } from "../spawner.js";
import { envEntries, HelperConnection, type HelperEntry } from "./helper-connection.js";
import { encodeSpawn, TO_CLOSE_PIPES, TO_SIGNAL, TO_SPAWN } from "./helper-wire.js";
import { endLost, mergedEnv, signalGroup } from "./process-group.js";
import { builtNativeHelper, programArgs } from "./programs.js";
import { WorkerSpawner } from "./worker-spawner.js";

/** The ways a {@link HelperSpawner} starts processes, best first. */
export type SpawnPath = "native helper" | "node helper" | "fallback";

/** A helper program and how to run it. */
interface HelperProgram {
  path: SpawnPath;
  file: string;
  args: string[];
}

/**
 * The native spawn helper to use, if any: `FLOTILLA_SPAWN_HELPER` names one (or is `node`, for none);
 * otherwise the one the package built, when it is there.
 */
export function nativeHelperPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env.FLOTILLA_SPAWN_HELPER;
  if (chosen === "node") return undefined;
  const path = chosen === undefined || chosen === "" || chosen === "native" ? builtNativeHelper() : chosen;
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
 * - a second `node` running `helper-process.ts`, which forks a small process;
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
      /** False: no Node.js helper either (the self-test tries the native one alone). */
      nodeHelper?: false;
    } = {},
  ) {
    const native = options.nativeHelper ?? nativeHelperPath();
    if (native !== false && native !== undefined) {
      this.programs.push({ path: "native helper", file: native, args: [] });
    }
    if (options.nodeHelper !== false && (options.execPath !== undefined || helperSupported())) {
      const file = options.execPath ?? process.execPath;
      this.programs.push({ path: "node helper", file, args: programArgs("helper-process") });
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
    // A dead helper takes the pipes with it. Its processes are killed and reported as spawn failures, so
    // their tasks are retried as node faults; the next spawn goes the next way (native -> node helper ->
    // fallback): a helper that crashed once is not trusted again.
    this.programs.shift();
    endLost(live, `the spawn helper stopped (${reason}); the task is retried`, true);
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
