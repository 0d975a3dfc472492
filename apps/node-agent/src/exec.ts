import { type ChildProcess, spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { OutputBatcher, type OutputStream, StreamRedactor, secretValues } from "./output.js";
import {
  DEFAULT_KILL_GRACE_MS,
  monotonicClock,
  type RunHandle,
  type RunOptions,
  type RunResult,
  type RunUsage,
  type StopReason,
} from "./run.js";

/** The command of an `exec` task: exactly one of `argv` or `shell`. */
export interface ExecSpec {
  argv?: string[];
  /** A shell command line, run with `/bin/sh -c`. */
  shell?: string;
  cwd?: string;
  /** Merged over the agent's environment. */
  env?: Record<string, string>;
}

/** Options of {@link startExec}. */
export interface ExecOptions extends RunOptions {
  /** The environment the task env is merged over (default `process.env`). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Output batching window (default 50 ms). */
  batchWindowMs?: number;
  /** How often `/proc` is sampled for usage on Linux (default 250 ms; 0 turns sampling off). */
  usageSampleMs?: number;
}

/** How long the pipes may stay open after the main process exited before they are torn down. */
const PIPE_DRAIN_MS = 2_000;

/**
 * Starts an `exec` task in its own process group, so a timeout or cancel reaches every process it started
 * (a shell's children, a build's workers) and not only the first one.
 *
 * The run is over when its main process exits: whatever it left running in its group is killed then, so a
 * task never leaks processes onto the node (a daemon that calls setsid escapes this, as it escapes a shell).
 * Output of both streams is decoded as UTF-8, secret env values are masked, and it is emitted in chunks.
 */
export function startExec(spec: ExecSpec, options: ExecOptions = {}): RunHandle {
  const clock = options.clock ?? monotonicClock;
  const startedAt = clock();
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const baseEnv = options.baseEnv ?? process.env;
  const env = { ...baseEnv, ...spec.env };
  const secrets = secretValues(baseEnv, spec.env);
  const onOutput = options.onOutput ?? (() => {});
  const batcher = new OutputBatcher({
    onChunk: (chunk) => {
      if (!killedSilently) onOutput(chunk);
    },
    ...(options.batchWindowMs === undefined ? {} : { windowMs: options.batchWindowMs }),
  });

  let stopReason: StopReason | undefined;
  let killedSilently = false;
  let finished = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (result: RunResult) => void;
  const done = new Promise<RunResult>((resolve) => {
    resolveDone = resolve;
  });

  const command = spec.argv ?? ["/bin/sh", "-c", spec.shell ?? ""];
  const [file, ...args] = command;
  let child: ChildProcess;
  try {
    child = spawn(file ?? "", args, {
      cwd: spec.cwd,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    // Synchronous throws are argument errors (e.g. a NUL byte); report them like any spawn failure.
    queueMicrotask(() => finishWithSpawnError(error));
    return { done, cancel: () => {}, kill: () => {} };
  }

  const pid = child.pid;
  const usage = startUsageSampler(pid, options.usageSampleMs ?? 250);

  function signalGroup(signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone, which is what we wanted.
    }
  }

  function stop(reason: StopReason): void {
    if (finished || stopReason !== undefined) return;
    stopReason = reason;
    signalGroup("SIGTERM");
    graceTimer = setTimeout(() => signalGroup("SIGKILL"), killGraceMs);
    graceTimer.unref();
  }

  if (options.timeoutMs !== undefined) {
    timeoutTimer = setTimeout(() => stop("timed_out"), options.timeoutMs);
  }

  const pipes: Array<{ stream: OutputStream; decoder: StringDecoder; redactor: StreamRedactor }> = [];
  for (const stream of ["stdout", "stderr"] as const) {
    const readable = child[stream];
    if (readable === null) continue;
    const state = { stream, decoder: new StringDecoder("utf8"), redactor: new StreamRedactor(secrets) };
    pipes.push(state);
    readable.on("data", (bytes: Buffer) => {
      batcher.push(stream, state.redactor.write(state.decoder.write(bytes)));
    });
  }

  child.on("error", (error) => {
    // With a pid the process started, and a later error is only a failed kill: the exit still comes.
    if (pid === undefined) finishWithSpawnError(error);
  });

  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  child.on("exit", (code, signal) => {
    exitCode = code;
    exitSignal = signal;
    usage.stop();
    // The main process is gone: anything it left in its group is killed so it cannot hold the pipes open.
    signalGroup("SIGKILL");
    const drain = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, PIPE_DRAIN_MS);
    drain.unref();
    child.once("close", () => clearTimeout(drain));
  });

  child.on("close", () => {
    if (pid === undefined) return;
    for (const pipe of pipes) batcher.push(pipe.stream, pipe.redactor.write(pipe.decoder.end()));
    for (const pipe of pipes) batcher.push(pipe.stream, pipe.redactor.end());
    batcher.flush();
    const result: RunResult = {
      outcome: stopReason ?? (exitCode === 0 ? "succeeded" : "failed"),
      exitCode,
      signal: exitSignal,
      durationMs: Math.round(clock() - startedAt),
    };
    const measured = usage.result();
    if (measured !== undefined) result.usage = measured;
    finish(result);
  });

  function finish(result: RunResult): void {
    if (finished) return;
    finished = true;
    clearTimeout(timeoutTimer);
    clearTimeout(graceTimer);
    usage.stop();
    resolveDone(result);
  }

  function finishWithSpawnError(error: unknown): void {
    void describeSpawnError(error, command, spec.cwd).then((message) =>
      finish({
        outcome: "failed",
        exitCode: null,
        signal: null,
        durationMs: Math.round(clock() - startedAt),
        error: { code: "E_SPAWN", message },
      }),
    );
  }

  return {
    done,
    cancel: () => stop("cancelled"),
    kill: () => {
      if (finished) return;
      killedSilently = true;
      batcher.discard();
      stopReason ??= "cancelled";
      signalGroup("SIGKILL");
    },
  };
}

/** Turns a spawn failure into one line that says which part was wrong: the program or the directory. */
async function describeSpawnError(
  error: unknown,
  command: string[],
  cwd: string | undefined,
): Promise<string> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "unknown error";
  const program = command[0] ?? "";
  if (cwd !== undefined) {
    const dir = await stat(cwd).catch(() => undefined);
    if (dir === undefined) return `cannot start ${program}: working directory ${cwd} does not exist`;
    if (!dir.isDirectory()) return `cannot start ${program}: working directory ${cwd} is not a directory`;
  }
  if (code === "ENOENT") return `cannot start ${program}: no such program (ENOENT)`;
  if (code === "EACCES") return `cannot start ${program}: permission denied (EACCES)`;
  const detail = error instanceof Error ? error.message : String(error);
  return `cannot start ${program}: ${detail}`;
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks; it is 100 on every mainstream kernel. */
const CLOCK_TICKS_PER_S = 100;

/**
 * Samples `/proc/<pid>` of the main process while it runs. Counts its own CPU plus that of children it
 * has already waited for, and its own peak RSS; CPU used after the last sample, and by descendants still
 * running or never waited for, is missed. No sample (a run shorter than one period, or no /proc) means no
 * usage is reported.
 */
function startUsageSampler(
  pid: number | undefined,
  periodMs: number,
): { stop(): void; result(): RunUsage | undefined } {
  let last: RunUsage | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (pid !== undefined && periodMs > 0 && process.platform === "linux") {
    timer = setInterval(() => {
      void sampleProc(pid).then((sample) => {
        if (sample === undefined || timer === undefined) return;
        last = {
          userCpuMs: sample.userCpuMs,
          systemCpuMs: sample.systemCpuMs,
          maxRssBytes: Math.max(sample.maxRssBytes, last?.maxRssBytes ?? 0),
        };
      });
    }, periodMs);
    timer.unref();
  }
  return {
    stop: () => {
      clearInterval(timer);
      timer = undefined;
    },
    result: () => last,
  };
}

async function sampleProc(pid: number): Promise<RunUsage | undefined> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, "utf8"),
      readFile(`/proc/${pid}/status`, "utf8"),
    ]);
    // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = (i: number): number => Number(fields[i] ?? 0);
    const msPerTick = 1000 / CLOCK_TICKS_PER_S;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return {
      userCpuMs: (ticks(11) + ticks(13)) * msPerTick,
      systemCpuMs: (ticks(12) + ticks(14)) * msPerTick,
      maxRssBytes: hwm === null ? 0 : Number(hwm[1]) * 1024,
    };
  } catch {
    return undefined;
  }
}
