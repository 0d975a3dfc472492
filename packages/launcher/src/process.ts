import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** How to start one long-running child process and know it is ready. */
export interface ServiceSpec {
  /** Name for log lines and errors, e.g. `agent linux-box`. */
  name: string;
  command: string;
  args: readonly string[];
  env?: Record<string, string | undefined>;
  /** A line on stdout or stderr that means "ready". */
  ready: RegExp;
  /** Give up waiting for `ready` after this long (default 20 s). */
  readyTimeoutMs?: number;
  /** Receives every output line (stdout and stderr). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A child process started by {@link startService}. */
export interface Service {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  readonly running: boolean;
  /** Sends a signal to the process (SIGKILL for a crash, SIGSTOP to freeze it, …). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` (default 5 s). */
  stop(graceMs?: number): Promise<void>;
  /** The last lines it printed (for error messages). */
  tail(): string[];
}

/** Every child still running, so they can be killed if this process goes away first. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Children must not outlive the process that started them: on any exit of this process (normal, an
 * uncaught error such as EPIPE on a closed stdout, `process.exit`), whatever is still running is killed.
 */
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const running of liveChildren) running.kill("SIGKILL");
  });
}

/** Starts a child process and resolves once it prints its ready line; rejects if it exits first. */
export async function startService(spec: ServiceSpec): Promise<Service> {
  const child: ChildProcess = spawn(spec.command, [...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  const recent: string[] = [];
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      resolve(code ?? signal ?? "unknown");
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timeoutMs = spec.readyTimeoutMs ?? 20_000;
    const timer = setTimeout(
      () => reject(new Error(`${spec.name} did not get ready within ${timeoutMs} ms:\n${recent.join("\n")}`)),
      timeoutMs,
    );
    const watch = (stream: NodeJS.ReadableStream | null, kind: "stdout" | "stderr"): void => {
      if (!stream) return;
      createInterface({ input: stream }).on("line", (line) => {
        recent.push(line);
        if (recent.length > 30) recent.shift();
        spec.onLine?.(line, kind);
        if (spec.ready.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
    };
    watch(child.stdout, "stdout");
    watch(child.stderr, "stderr");
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${spec.name} (${spec.command}): ${error.message}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited (${code}) before it was ready:\n${recent.join("\n")}`));
    });
  });
  await ready;
  return {
    name: spec.name,
    pid: child.pid ?? -1,
    exited,
    get running() {
      return running;
    },
    signal(signal) {
      if (running) child.kill(signal);
    },
    async stop(graceMs = 5000) {
      if (!running) return;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    tail: () => [...recent],
  };
}
