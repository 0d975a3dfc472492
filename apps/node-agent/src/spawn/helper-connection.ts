/**
 * The agent's side of one spawn helper process: it frames requests to the helper's stdin (batched per
 * turn, base environments sent once and kept by id), reads its reports from stdout, waits for its
 * greeting, and knows the processes the helper started for it until each has closed. `HelperSpawner`
 * decides which helper to run and what to do when one is gone.
 */
import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import type { ProcessEvents, SpawnEnv, SpawnedProcess, SpawnRequest } from "../spawner.js";
import {
  EV_CLOSE,
  EV_ERROR,
  EV_EXIT,
  EV_READY,
  EV_SPAWN,
  EV_STDERR,
  EV_STDOUT,
  FRAME_HEADER,
  frameOf,
  HELPER_HELLO,
  NO_EXIT_CODE,
  packStrings,
  TO_DROP_ENV,
  TO_ENV,
} from "./helper-wire.js";

/** Base environments a helper keeps at once (one per agent in practice). */
const HELPER_ENV_SLOTS = 8;
/** How long a new helper may take to say it is ready before the spawner tries the next way to spawn. */
const HELPER_READY_MS = 10_000;
/** How long the output of a helper that exited may take to be read to its end. */
const HELPER_DRAIN_MS = 1_000;

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
export function envEntries(env: SpawnEnv, unset: boolean): string[] {
  const entries: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) entries.push(`${key}=${value}`);
    else if (unset) entries.push(key);
  }
  return entries;
}

/** One process as the helper spawner tracks it. */
export interface HelperEntry {
  events: ProcessEvents;
  request: SpawnRequest;
  pid: number | undefined;
  /** Signals asked for before the pid was known, and whether the pipes were to be closed. */
  signals: NodeJS.Signals[];
  pipesClosed: boolean;
  /** Set when the helper could not start: the process went to the fallback spawner instead. */
  redirect: SpawnedProcess | undefined;
}

/** One helper process and the processes it started. */
export class HelperConnection {
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
