/**
 * The Node.js spawn helper: a program of its own (built to `dist/spawn/helper-process.js`), run by
 * `HelperSpawner` as a second `node` where the native helper is not built. It starts processes for the
 * agent, reads their pipes and sends the bytes over the wire of `helper-wire.ts` on its stdout.
 *
 * It lives as long as its control pipe (stdin): it exits when the agent closes it or dies, and ignores
 * the signals a terminal or a service manager sends to the agent, whose graceful stop may still need it.
 * Frames it sends are written once per turn; while the agent reads slower than tasks write, the tasks'
 * pipes are paused (they block, as on any full pipe). A spawn is written to the agent as soon as spawn()
 * returns, so a helper that dies leaves no process the agent does not know of (it kills the groups of
 * those it knows), but for one killed in the microseconds between the two.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { Socket } from "node:net";
import { constants } from "node:os";
import type { Readable } from "node:stream";
import {
  applyVars,
  decodeSpawn,
  EV_CLOSE,
  EV_ERROR,
  EV_EXIT,
  EV_READY,
  EV_SPAWN,
  EV_STDERR,
  EV_STDOUT,
  FRAME_HEADER,
  frameHeader,
  HELPER_HELLO,
  NO_EXIT_CODE,
  TO_CLOSE_PIPES,
  TO_DROP_ENV,
  TO_ENV,
  TO_SIGNAL,
  TO_SPAWN,
  u32s,
  unpackStrings,
} from "./helper-wire.js";
import { signalGroup } from "./process-group.js";

/** A process this helper started and has not reported closed yet. */
interface Child {
  child: ChildProcess;
  pid: number;
  exited: boolean;
  /** Pipes still open (of stdout and stderr). */
  open: number;
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});
const input = new Socket({ fd: 0, readable: true, writable: false });
const output = new Socket({ fd: 1, readable: false, writable: true });
const children = new Map<number, Child>();
/** Base environments by id, as the agent sent them. */
const envs = new Map<number, Record<string, string>>();
let queue: Buffer[] = [];
let scheduled = false;
let paused = false;

/** Queues a frame for the end of this turn; the payload is queued as is, not copied. */
function send(op: number, id: number, payload?: Buffer): void {
  queue.push(frameHeader(op, id, payload === undefined ? 0 : payload.length));
  if (payload !== undefined && payload.length > 0) queue.push(payload);
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

function sendError(id: number, error: NodeJS.ErrnoException): void {
  const errno =
    (error.code === undefined ? undefined : constants.errno[error.code as keyof typeof constants.errno]) ?? 0;
  send(EV_ERROR, id, Buffer.concat([u32s(errno), Buffer.from(errno === 0 ? String(error.message) : "")]));
}

function streams(entry: Child): Readable[] {
  const out: Readable[] = [];
  if (entry.child.stdout !== null) out.push(entry.child.stdout);
  if (entry.child.stderr !== null) out.push(entry.child.stderr);
  return out;
}

function flush(): void {
  scheduled = false;
  if (queue.length === 0) return;
  const batch = queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue);
  queue = [];
  if (!output.write(batch) && !paused) {
    paused = true;
    for (const entry of children.values()) for (const stream of streams(entry)) stream.pause();
  }
}

output.on("drain", () => {
  paused = false;
  for (const entry of children.values()) for (const stream of streams(entry)) stream.resume();
});
output.on("error", () => process.exit(0));

/** Reports a process closed once it exited and both pipes ended. */
function finish(id: number, entry: Child): void {
  if (entry.open > 0 || !entry.exited || children.get(id) !== entry) return;
  children.delete(id);
  send(EV_CLOSE, id);
}

function start(id: number, payload: Buffer): void {
  const request = decodeSpawn(payload);
  const env = applyVars({ ...envs.get(request.envId) }, request.env);
  let child: ChildProcess;
  try {
    child = spawn(request.file, request.args, {
      cwd: request.cwd,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    sendError(id, error as NodeJS.ErrnoException);
    return;
  }
  if (child.pid === undefined) {
    child.on("error", (error) => sendError(id, error));
    return;
  }
  const pid = child.pid;
  const entry: Child = { child, pid, exited: false, open: 2 };
  children.set(id, entry);
  child.on("error", () => {});
  send(EV_SPAWN, id, u32s(pid));
  // Written now, not at the end of the turn: until the agent has the pid, a helper that dies orphans it.
  flush();
  const pipes: [Readable | null, number][] = [
    [child.stdout, EV_STDOUT],
    [child.stderr, EV_STDERR],
  ];
  for (const [stream, op] of pipes) {
    let over = false;
    const end = (): void => {
      if (over) return;
      over = true;
      entry.open--;
      finish(id, entry);
    };
    stream?.on("data", (bytes: Buffer) => send(op, id, bytes));
    stream?.on("end", end);
    stream?.on("close", end);
    if (paused) stream?.pause();
  }
  child.on("exit", (code, signal) => {
    entry.exited = true;
    if (request.killGroupOnExit) signalGroup(pid, "SIGKILL");
    const signalNumber = signal === null ? 0 : (constants.signals[signal] ?? 0);
    send(EV_EXIT, id, u32s(code ?? NO_EXIT_CODE, signalNumber));
    finish(id, entry);
  });
}

function handle(op: number, id: number, payload: Buffer): void {
  if (op === TO_SPAWN) {
    start(id, payload);
    return;
  }
  if (op === TO_ENV) {
    envs.set(id, applyVars({}, unpackStrings(payload, 4, payload.readUInt32LE(0))));
    return;
  }
  if (op === TO_DROP_ENV) {
    envs.delete(id);
    return;
  }
  const entry = children.get(id);
  if (entry === undefined) return;
  if (op === TO_SIGNAL) {
    signalGroup(entry.pid, payload.readUInt32LE(0));
  } else if (op === TO_CLOSE_PIPES) {
    for (const stream of streams(entry)) stream.destroy();
  }
}

let pending: Buffer | undefined;
input.on("data", (chunk: Buffer) => {
  const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
  let offset = 0;
  while (buffer.length - offset >= 4) {
    const length = buffer.readUInt32LE(offset);
    if (buffer.length - offset - 4 < length) break;
    const op = buffer[offset + 4] as number;
    handle(op, buffer.readUInt32LE(offset + 5), buffer.subarray(offset + FRAME_HEADER, offset + 4 + length));
    offset += 4 + length;
  }
  pending = offset === buffer.length ? undefined : buffer.subarray(offset);
});
input.on("end", () => process.exit(0));
input.on("error", () => process.exit(0));
send(EV_READY, 0, Buffer.from(HELPER_HELLO));
