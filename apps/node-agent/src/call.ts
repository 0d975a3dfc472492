import { OutputBatcher } from "./output.js";
import { monotonicClock, type RunHandle, type RunOptions, type RunResult, type StopReason } from "./run.js";

/** What a `call` handler gets besides its payload. */
export interface CallContext {
  taskId: string;
  attempt: number;
  /** Aborted on timeout or cancel; a handler should stop its work when it fires. */
  signal: AbortSignal;
  /** Reports progress (`task.progress`); percent is clamped to 0..100. */
  progress(percent: number, message?: string): void;
  /** Writes one line of output; it reaches watchers as stdout. */
  log(line: string): void;
}

/** A named in-process function the agent runs for `call` tasks. */
export type CallHandler = (payload: unknown, ctx: CallContext) => Promise<unknown>;

/** The handlers an agent serves, by name (the names go to the coordinator in `agent.hello`). */
export type CallHandlers = Record<string, CallHandler>;

/** Options of {@link startCall}; a kill grace has no meaning for a function, so it is not one. */
export interface CallOptions extends Omit<RunOptions, "killGraceMs"> {
  taskId: string;
  attempt: number;
  onProgress?: (percent: number, message?: string) => void;
  batchWindowMs?: number;
}

/**
 * Runs a `call` task. A handler cannot be killed like a process: on timeout or cancel its signal is
 * aborted and the run ends at once with that outcome; whatever the handler does afterwards is ignored.
 * A handler that throws ends the run `failed` with `E_HANDLER`.
 */
export function startCall(handler: CallHandler, payload: unknown, options: CallOptions): RunHandle {
  const clock = options.clock ?? monotonicClock;
  const startedAt = clock();
  // Made when the handler first reads `ctx.signal`: most handlers never do, and an AbortController per
  // call is a measurable share of a short call's cost.
  let controller: AbortController | undefined;
  let abortedWith: Error | undefined;
  const onOutput = options.onOutput ?? (() => {});
  let over = false;
  let silent = false;
  const batcher = new OutputBatcher({
    onChunk: (chunk) => {
      if (!silent) onOutput(chunk);
    },
    ...(options.batchWindowMs === undefined ? {} : { windowMs: options.batchWindowMs }),
  });
  let resolveDone!: (result: RunResult) => void;
  const done = new Promise<RunResult>((resolve) => {
    resolveDone = resolve;
  });

  const finish = (result: Omit<RunResult, "durationMs" | "exitCode" | "signal">): void => {
    if (over) return;
    over = true;
    clearTimeout(timeoutTimer);
    batcher.flush();
    resolveDone({ exitCode: null, signal: null, durationMs: Math.round(clock() - startedAt), ...result });
  };

  const stop = (reason: StopReason): void => {
    if (over) return;
    abortedWith = new Error(reason === "timed_out" ? "task timed out" : "task cancelled");
    controller?.abort(abortedWith);
    finish({ outcome: reason });
  };

  const timeoutTimer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => stop("timed_out"), options.timeoutMs);

  const ctx: CallContext = {
    taskId: options.taskId,
    attempt: options.attempt,
    get signal() {
      if (controller === undefined) {
        controller = new AbortController();
        if (abortedWith !== undefined) controller.abort(abortedWith);
      }
      return controller.signal;
    },
    progress: (percent, message) => {
      if (over) return;
      options.onProgress?.(Math.min(100, Math.max(0, percent)), message);
    },
    log: (line) => {
      if (!over) batcher.push("stdout", line.endsWith("\n") ? line : `${line}\n`);
    },
  };

  // Deferred so a handler that throws synchronously is reported like one that rejects.
  Promise.resolve()
    .then(() => handler(payload, ctx))
    .then(
      (value) =>
        finish(value === undefined ? { outcome: "succeeded" } : { outcome: "succeeded", result: value }),
      (error: unknown) =>
        finish({
          outcome: "failed",
          error: { code: "E_HANDLER", message: error instanceof Error ? error.message : String(error) },
        }),
    );

  return {
    done,
    cancel: () => stop("cancelled"),
    kill: () => {
      silent = true;
      batcher.discard();
      stop("cancelled");
    },
  };
}
