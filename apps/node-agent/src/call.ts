import { OutputBatcher } from "./output.js";
import { monotonicClock, type RunHandle, type RunOptions, type RunResult, type StopReason } from "./run.js";

/** What a `call` handler gets besides its payload. */
export interface CallContext {
  taskId: string;
  attempt: number;
  /**
   * The lease's epoch (what an exec run gets as `FLOTILLA_EPOCH`): with the task id, it tells this run
   * from a later one of the same task, so a handler can guard its own side effects. 0 outside an agent.
   */
  epoch: number;
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
  /** The lease's epoch, given to the handler as `ctx.epoch` (default 0). */
  epoch?: number;
  onProgress?: (percent: number, message?: string) => void;
  batchWindowMs?: number;
}

/**
 * Runs a `call` task. A handler cannot be killed like a process: on timeout or cancel its signal is
 * aborted and the run ends at once with that outcome; whatever the handler does afterwards is ignored.
 * A handler that throws ends the run `failed` with `E_HANDLER`.
 */
export function startCall(handler: CallHandler, payload: unknown, options: CallOptions): RunHandle {
  return new CallRun(handler, payload, options);
}

/**
 * One call. What a short call never uses is made only when first asked for (the abort signal, the output
 * batcher, the context's functions): an agent serving thousands of calls a second allocated 3.8 KB per
 * no-op call when each run built all of it up front, a third of everything it allocated per call.
 */
class CallRun implements RunHandle {
  readonly done: Promise<RunResult>;
  #resolveDone!: (result: RunResult) => void;
  readonly #options: CallOptions;
  readonly #clock: () => number;
  readonly #startedAt: number;
  readonly #timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  #controller: AbortController | undefined;
  #abortedWith: Error | undefined;
  #batcher: OutputBatcher | undefined;
  #over = false;
  #silent = false;

  constructor(handler: CallHandler, payload: unknown, options: CallOptions) {
    this.#options = options;
    this.#clock = options.clock ?? monotonicClock;
    this.#startedAt = this.#clock();
    this.done = new Promise<RunResult>((resolve) => {
      this.#resolveDone = resolve;
    });
    this.#timeoutTimer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => this.#stop("timed_out"), options.timeoutMs);
    const ctx = new RunContext(this, options.taskId, options.attempt, options.epoch ?? 0);
    // Deferred, as a handler always was, and so that one that throws at once is reported like one that
    // rejects.
    queueMicrotask(() => {
      let value: unknown;
      try {
        value = handler(payload, ctx);
      } catch (error) {
        this.#failed(error);
        return;
      }
      if (isThenable(value)) {
        value.then(
          (result) => this.#succeeded(result),
          (error: unknown) => this.#failed(error),
        );
      } else {
        this.#succeeded(value);
      }
    });
  }

  cancel(): void {
    this.#stop("cancelled");
  }

  kill(): void {
    this.#silent = true;
    this.#batcher?.discard();
    this.#stop("cancelled");
  }

  /** The run's abort signal, made when a handler first asks for it (most never do). */
  signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortedWith !== undefined) this.#controller.abort(this.#abortedWith);
    }
    return this.#controller.signal;
  }

  progress(percent: number, message: string | undefined): void {
    if (this.#over) return;
    this.#options.onProgress?.(Math.min(100, Math.max(0, percent)), message);
  }

  log(line: string): void {
    if (this.#over) return;
    if (this.#batcher === undefined) {
      const onOutput = this.#options.onOutput;
      const batchWindowMs = this.#options.batchWindowMs;
      this.#batcher = new OutputBatcher({
        onChunk: (chunk) => {
          if (!this.#silent) onOutput?.(chunk);
        },
        ...(batchWindowMs === undefined ? {} : { windowMs: batchWindowMs }),
      });
    }
    this.#batcher.push("stdout", line.endsWith("\n") ? line : `${line}\n`);
  }

  #succeeded(value: unknown): void {
    this.#finish("succeeded", value, undefined);
  }

  #failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#finish("failed", undefined, { code: "E_HANDLER", message });
  }

  #stop(reason: StopReason): void {
    if (this.#over) return;
    this.#abortedWith = new Error(reason === "timed_out" ? "task timed out" : "task cancelled");
    this.#controller?.abort(this.#abortedWith);
    this.#finish(reason, undefined, undefined);
  }

  #finish(outcome: RunResult["outcome"], value: unknown, error: RunResult["error"]): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timeoutTimer);
    this.#batcher?.flush();
    const result: RunResult = {
      outcome,
      exitCode: null,
      signal: null,
      durationMs: Math.round(this.#clock() - this.#startedAt),
    };
    if (value !== undefined) result.result = value;
    if (error !== undefined) result.error = error;
    this.#resolveDone(result);
  }
}

/**
 * What a handler gets as `ctx`. `log` and `progress` are functions of their own, so a handler may take
 * them apart (`const { log } = ctx`); each is made when first read.
 */
class RunContext implements CallContext {
  #log: ((line: string) => void) | undefined;
  #progress: ((percent: number, message?: string) => void) | undefined;

  constructor(
    private readonly run: CallRun,
    readonly taskId: string,
    readonly attempt: number,
    readonly epoch: number,
  ) {}

  get signal(): AbortSignal {
    return this.run.signal();
  }

  get log(): (line: string) => void {
    this.#log ??= (line) => this.run.log(line);
    return this.#log;
  }

  get progress(): (percent: number, message?: string) => void {
    this.#progress ??= (percent, message) => this.run.progress(percent, message);
    return this.#progress;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
