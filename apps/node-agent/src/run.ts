import type { ErrorCode } from "@flotilla/protocol";
import type { OutputChunk } from "./output.js";

/** How a run ended, as `task.finish` reports it. */
export type RunOutcome = "succeeded" | "failed" | "timed_out" | "cancelled";

/** Resources a run used, best effort (see the README for what is and is not counted). */
export interface RunUsage {
  userCpuMs: number;
  systemCpuMs: number;
  maxRssBytes: number;
}

/** The end of a run: the fields of `task.finish` without the envelope and task ids. */
export interface RunResult {
  outcome: RunOutcome;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  usage?: RunUsage;
  /** The value a `call` handler returned. */
  result?: unknown;
  error?: { code: ErrorCode; message: string };
}

/** Why a run is being stopped from outside. */
export type StopReason = "cancelled" | "timed_out";

/** A run in progress, exec or call: the agent only needs these three things from either kind. */
export interface RunHandle {
  /** Settles once the run is over and all of its output has been passed to `onOutput`. */
  readonly done: Promise<RunResult>;
  /** Graceful stop: SIGTERM (or abort), then SIGKILL after the grace period. Idempotent. */
  cancel(): void;
  /** Immediate stop (SIGKILL, no grace), for runs whose lease is gone; output stops at once. */
  kill(): void;
}

/** Options common to both kinds of run. */
export interface RunOptions {
  /** Receives output chunks in seq order. */
  onOutput?: (chunk: OutputChunk) => void;
  /** Stops the run with outcome `timed_out` after this long. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL on timeout or cancel (default 10 s). */
  killGraceMs?: number;
  /** Milliseconds clock for `durationMs` (default `performance.now`). */
  clock?: () => number;
}

/** Default time between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 10_000;

/** Default clock for durations: monotonic, so a wall-clock jump does not produce negative durations. */
export const monotonicClock = (): number => performance.now();
