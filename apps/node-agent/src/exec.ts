import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
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
import { defaultSpawner, type SpawnEnv, type Spawner, type SpawnFailure } from "./spawner.js";

/** The command of an `exec` task: exactly one of `argv` or `shell`. */
export interface ExecSpec {
  argv?: string[];
  /** A shell command line, run with `/bin/sh -c`. */
  shell?: string;
  cwd?: string;
  /** Merged over the agent's environment. */
  env?: Record<string, string>;
  /** Values masked in the output whatever their variable names (the task's secret env). */
  maskedValues?: readonly string[];
}

/**
 * A base environment made ready once for many runs ({@link prepareEnv}): a frozen copy, and the values
 * in it (and the extra secrets) that output must not show.
 */
export interface PreparedEnv {
  readonly env: SpawnEnv;
  /** Longest first. */
  readonly secrets: readonly string[];
}

/**
 * Copies and freezes `baseEnv` and finds its secret values once, for an executor that starts many runs
 * over the same environment (the agent): a run then only looks at its own `env`, and a spawner that runs
 * elsewhere receives the base once.
 */
export function prepareEnv(baseEnv: NodeJS.ProcessEnv, secrets?: string[]): PreparedEnv {
  const env = Object.freeze({ ...baseEnv });
  return Object.freeze({ env, secrets: Object.freeze(secretValues(env, extraSecrets(secrets))) });
}

/** Options of {@link startExec}. */
export interface ExecOptions extends RunOptions {
  /** The environment the task env is merged over (default `process.env`). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Takes the place of `baseEnv` and `secrets`: the same, prepared once for many runs. */
  preparedEnv?: PreparedEnv;
  /** Output batching window (default 50 ms). */
  batchWindowMs?: number;
  /** How often `/proc` is sampled for usage on Linux (default 250 ms; 0 turns sampling off). */
  usageSampleMs?: number;
  /** More values to mask in the output, whatever their variable name (the agent's own token). */
  secrets?: string[];
  /** Where processes are started (default: the shared spawn helper, off the event loop). */
  spawner?: Spawner;
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
  const prepared = options.preparedEnv;
  const baseEnv = prepared?.env ?? options.baseEnv ?? process.env;
  const masked = extraSecrets(spec.maskedValues);
  const secrets =
    prepared === undefined
      ? secretValues(baseEnv, spec.env, extraSecrets(options.secrets), masked)
      : spec.env === undefined && masked === undefined
        ? prepared.secrets
        : withSecretsOf(prepared.secrets, spec.env, masked);
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
  const [file = "", ...args] = command;
  const spawner = options.spawner ?? defaultSpawner();
  let usage: UsageSampler | undefined;
  let exitCode: number | null = null;
  let exitSignal: string | null = null;
  let drainTimer: NodeJS.Timeout | undefined;
  const pipes = new Map<OutputStream, { decoder: StringDecoder; redactor: StreamRedactor }>();
  const pipe = (stream: OutputStream) => {
    let state = pipes.get(stream);
    if (state === undefined) {
      state = { decoder: new StringDecoder("utf8"), redactor: new StreamRedactor(secrets) };
      pipes.set(stream, state);
    }
    return state;
  };

  const child = spawner.spawn(
    {
      file,
      args,
      // A prepared base is frozen and shared by every run: it goes by reference, the task's env over it.
      ...(prepared === undefined ? { env: { ...baseEnv, ...spec.env } } : { env: spec.env ?? {}, baseEnv }),
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      // The main process is gone: anything it left in its group is killed so it cannot hold the pipes open.
      killGroupOnExit: true,
    },
    {
      onSpawn: (pid) => {
        if (!finished) usage = startUsageSampler(pid, options.usageSampleMs ?? 250);
      },
      onData: (stream, bytes) => {
        const state = pipe(stream);
        batcher.push(stream, state.redactor.write(state.decoder.write(bytes as Buffer)));
      },
      onExit: (code, signal) => {
        exitCode = code;
        exitSignal = signal;
        usage?.stop();
        drainTimer = setTimeout(() => child.closePipes(), PIPE_DRAIN_MS);
      },
      onClose: () => {
        clearTimeout(drainTimer);
        for (const [stream, state] of pipes) batcher.push(stream, state.redactor.write(state.decoder.end()));
        for (const [stream, state] of pipes) batcher.push(stream, state.redactor.end());
        batcher.flush();
        const result: RunResult = {
          outcome: stopReason ?? (exitCode === 0 ? "succeeded" : "failed"),
          exitCode,
          signal: exitSignal,
          durationMs: Math.round(clock() - startedAt),
        };
        const measured = usage?.result();
        if (measured !== undefined) result.usage = measured;
        finish(result);
      },
      onError: (failure) => finishWithSpawnError(failure),
    },
  );

  function stop(reason: StopReason): void {
    if (finished || stopReason !== undefined) return;
    stopReason = reason;
    child.signalGroup("SIGTERM");
    graceTimer = setTimeout(() => child.signalGroup("SIGKILL"), killGraceMs);
  }

  if (options.timeoutMs !== undefined) {
    timeoutTimer = setTimeout(() => stop("timed_out"), options.timeoutMs);
  }

  function finish(result: RunResult): void {
    if (finished) return;
    finished = true;
    clearTimeout(timeoutTimer);
    clearTimeout(graceTimer);
    usage?.stop();
    resolveDone(result);
  }

  function finishWithSpawnError(failure: SpawnFailure): void {
    void describeSpawnError(failure, command, spec.cwd).then((message) =>
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
      child.signalGroup("SIGKILL");
    },
  };
}

/** `secrets` (longest first) and the secret values of `envs`, longest first. */
function withSecretsOf(
  secrets: readonly string[],
  ...envs: Array<Record<string, string> | undefined>
): readonly string[] {
  const own = secretValues(...envs);
  if (own.length === 0) return secrets;
  return [...new Set([...secrets, ...own])].sort((a, b) => b.length - a.length);
}

/** Wraps bare secret values so {@link secretValues} treats them like secret-named variables. */
function extraSecrets(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  return Object.fromEntries(values.map((value, i) => [`EXTRA_${i}_SECRET`, value]));
}

/** Turns a spawn failure into one line that says which part was wrong: the program or the directory. */
async function describeSpawnError(
  failure: SpawnFailure,
  command: string[],
  cwd: string | undefined,
): Promise<string> {
  const code = failure.code;
  const program = command[0] ?? "";
  if (cwd !== undefined) {
    const dir = await stat(cwd).catch(() => undefined);
    if (dir === undefined) return `cannot start ${program}: working directory ${cwd} does not exist`;
    if (!dir.isDirectory()) return `cannot start ${program}: working directory ${cwd} is not a directory`;
  }
  if (code === "ENOENT") return `cannot start ${program}: no such program (ENOENT)`;
  if (code === "EACCES") return `cannot start ${program}: permission denied (EACCES)`;
  return `cannot start ${program}: ${failure.message}`;
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks; it is 100 on every mainstream kernel. */
const CLOCK_TICKS_PER_S = 100;

/**
 * Samples `/proc/<pid>` of the main process while it runs. Counts its own CPU plus that of children it
 * has already waited for, and its own peak RSS; CPU used after the last sample, and by descendants still
 * running or never waited for, is missed. No sample (a run shorter than one period, or no /proc) means no
 * usage is reported.
 */
interface UsageSampler {
  stop(): void;
  result(): RunUsage | undefined;
}

function startUsageSampler(pid: number, periodMs: number): UsageSampler {
  let last: RunUsage | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (periodMs > 0 && process.platform === "linux") {
    // Read in the timer's own turn: /proc answers from memory, and a read queued on the thread pool
    // behind other file work could land after the process is gone (no sample at all on a busy machine).
    timer = setInterval(() => {
      const sample = sampleProc(pid);
      if (sample === undefined) return;
      last = {
        userCpuMs: sample.userCpuMs,
        systemCpuMs: sample.systemCpuMs,
        maxRssBytes: Math.max(sample.maxRssBytes, last?.maxRssBytes ?? 0),
      };
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

function sampleProc(pid: number): RunUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
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
