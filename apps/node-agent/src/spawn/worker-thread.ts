/**
 * The program of `WorkerSpawner`'s worker thread (built to `dist/spawn/worker-thread.js`): it spawns
 * what the agent's thread asks for, so the fork + exec of each spawn holds this thread and not the agent's
 * event loop, reads the pipes here and posts their bytes over. It owns the children it started until
 * each has closed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { parentPort } from "node:worker_threads";
import { signalGroup } from "./process-group.js";
import type { FromWorker, ToWorker } from "./worker-messages.js";

const port = parentPort;
if (port === null) throw new Error("worker-thread.ts runs only as a worker thread");
const children = new Map<number, ChildProcess>();
const post = (message: FromWorker): void => port.postMessage(message);

/** A read may be a view into a larger buffer, and cloning a view clones all of its buffer: a tight copy. */
function tight(bytes: Buffer): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}

function start(message: Extract<ToWorker, { op: "spawn" }>): void {
  const { file, args, cwd, env, killGroupOnExit } = message.request;
  const id = message.id;
  let child: ChildProcess;
  try {
    child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failed = error as NodeJS.ErrnoException;
    post({ op: "error", id, failure: { code: failed.code, message: String(failed.message) } });
    return;
  }
  if (child.pid === undefined) {
    child.on("error", (error: NodeJS.ErrnoException) =>
      post({ op: "error", id, failure: { code: error.code, message: error.message } }),
    );
    return;
  }
  const pid = child.pid;
  children.set(id, child);
  child.on("error", () => {});
  post({ op: "spawn", id, pid });
  child.stdout?.on("data", (bytes: Buffer) =>
    post({ op: "data", id, stream: "stdout", bytes: tight(bytes) }),
  );
  child.stderr?.on("data", (bytes: Buffer) =>
    post({ op: "data", id, stream: "stderr", bytes: tight(bytes) }),
  );
  child.on("exit", (code, signal) => {
    if (killGroupOnExit) signalGroup(pid, "SIGKILL");
    post({ op: "exit", id, code, signal });
  });
  child.on("close", () => {
    children.delete(id);
    post({ op: "close", id });
  });
}

port.on("message", (message: ToWorker) => {
  if (message.op === "spawn") {
    start(message);
    return;
  }
  const child = children.get(message.id);
  if (child === undefined) return;
  if (message.op === "signal") signalGroup(child.pid, message.signal);
  else {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
});
