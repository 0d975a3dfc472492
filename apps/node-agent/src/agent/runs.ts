/**
 * The table of runs: one entry per task this agent started, from its assignment to its last message.
 * It starts exec and call runs in a slot, sends each run's `task.accept` once the run has gone
 * `acceptDelayMs` (or as soon as output comes first), turns output and progress into frames, sends the
 * finish, and kills a run silently when its lease belongs to someone else now. Only this module adds or
 * removes runs, apart from the outbox forgetting a finished run once its queue is empty.
 */
import {
  type ErrorCode,
  FlotillaError,
  type MessageFields,
  type MessageOf,
  type RunRef,
  type TaskSpec,
} from "@flotilla/protocol";
import { type CallOptions, startCall } from "../call.js";
import { type ExecOptions, type ExecSpec, startExec } from "../exec.js";
import type { OutputChunk } from "../output.js";
import type { RunHandle, RunResult } from "../run.js";
import type { Settings } from "./options.js";
import type { Frame, QueuedRun, RunOutbox } from "./run-outbox.js";

/** What the agent remembers about one task it started. */
export interface Run extends QueuedRun {
  readonly taskId: string;
  readonly epoch: number;
  handle: RunHandle | undefined;
  /** The `seq` of the run's first output chunk (the assignment's `seqFrom`): added to the runner's. */
  readonly seqFrom: number;
  /** When the run started (agent clock). */
  readonly startedAt: number;
  /** Sends the run's `task.accept` once it has run `acceptDelayMs`; undefined once sent or not needed. */
  acceptTimer: NodeJS.Timeout | undefined;
}

/** What the run table calls when a run ends. */
export interface RunEvents {
  /** A slot freed up: the next held assignment may take it. */
  slotFreed(): void;
  /** A run that was not silenced finished: a graceful stop may be waiting for the last one. */
  finished(): void;
}

/** The runs of this agent, by task id. */
export class Runs {
  /** Every run not yet forgotten: active ones, and ended ones whose messages are still queued. */
  readonly table = new Map<string, Run>();

  constructor(
    private readonly settings: Settings,
    private readonly outbox: RunOutbox,
    private readonly events: RunEvents,
  ) {}

  get(taskId: string): Run | undefined {
    return this.table.get(taskId);
  }

  /** Runs holding a slot (started, not ended, lease still ours). */
  activeCount(): number {
    let n = 0;
    for (const run of this.table.values()) if (run.active && !run.silent) n++;
    return n;
  }

  /**
   * The leases of the runs going on, and of runs ended whose finish is still waiting to be sent: the
   * coordinator would otherwise take their lease for lost while the socket is full.
   */
  activeRefs(): RunRef[] {
    return [...this.table.values()]
      .filter((r) => (r.active || r.outbox.length > 0) && !r.silent)
      .map((r) => ({ taskId: r.taskId, epoch: r.epoch }));
  }

  /** The leases of every run that may still report (what a hello tells the coordinator). */
  reportingRefs(): RunRef[] {
    return [...this.table.values()]
      .filter((r) => !r.silent)
      .map((r) => ({ taskId: r.taskId, epoch: r.epoch }));
  }

  /** Sends queued run messages as the socket allows (see {@link RunOutbox.flush}). */
  flush(force = false): void {
    this.outbox.flush(this.table, force);
  }

  /** Starts an assignment in a free slot; its accept goes out once it has run `acceptDelayMs`. */
  begin(message: MessageOf<"task.assign">): void {
    const { taskId, epoch, attempt, spec } = message;
    const run: Run = {
      taskId,
      epoch,
      handle: undefined,
      active: true,
      silent: false,
      outbox: [],
      outboxOutputBytes: 0,
      droppedOutputBytes: 0,
      seqFrom: message.seqFrom ?? 0,
      startedAt: this.settings.clock(),
      acceptTimer: undefined,
    };
    this.table.set(taskId, run);
    const acceptDelayMs = this.settings.acceptDelayMs;
    if (acceptDelayMs === 0) this.sendAccept(run);
    else {
      run.acceptTimer = setTimeout(() => this.sendAccept(run), acceptDelayMs);
      run.acceptTimer.unref();
    }
    this.settings.logger.info({ taskId, epoch, attempt, kind: spec.kind }, "task accepted");
    const handle =
      message.secretsError === undefined
        ? this.startRun(run, spec, attempt)
        : unrunnable("E_CONFIG", message.secretsError);
    run.handle = handle;
    void handle.done.then((result) => this.onRunDone(run, result));
  }

  /** Stops a run at once and forgets it: its lease belongs to someone else now. */
  killSilently(run: Run, why: string): void {
    this.settings.logger.warn({ taskId: run.taskId, epoch: run.epoch }, `killing run: ${why}`);
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    run.silent = true;
    run.outbox = [];
    run.handle?.kill();
    this.table.delete(run.taskId);
  }

  /** Sends the run's `task.accept` now (its delay ran out, or output comes first). */
  private sendAccept(run: Run): void {
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    if (!run.active || run.silent) return;
    const runningForMs = Math.max(0, Math.round(this.settings.clock() - run.startedAt));
    this.outbox.sendForRun(
      run,
      this.outbox.frame("task.accept", { taskId: run.taskId, epoch: run.epoch, runningForMs }),
    );
  }

  private onRunOutput(run: Run, chunk: OutputChunk): void {
    if (run.acceptTimer !== undefined) this.sendAccept(run);
    const fields = {
      taskId: run.taskId,
      epoch: run.epoch,
      stream: chunk.stream,
      seq: run.seqFrom + chunk.seq,
      data: chunk.data,
    };
    this.outbox.sendForRun(run, this.outbox.frame("task.output", fields, chunk.data.length));
  }

  /** The finish frame; a handler result that JSON cannot carry (a BigInt, a cycle) fails the run instead. */
  private finishFrame(fields: MessageFields<"task.finish">): Frame {
    try {
      return this.outbox.frame("task.finish", fields);
    } catch (error) {
      const { result: _unsendable, ...rest } = fields;
      const message = `the handler's result cannot be sent as JSON: ${error instanceof Error ? error.message : String(error)}`;
      return this.outbox.frame("task.finish", {
        ...rest,
        outcome: "failed",
        error: { code: "E_HANDLER", message },
      });
    }
  }

  private onRunDone(run: Run, result: RunResult): void {
    run.active = false;
    if (run.silent) {
      if (this.table.get(run.taskId) === run) this.table.delete(run.taskId);
      this.events.slotFreed();
      return;
    }
    const fields: MessageFields<"task.finish"> = {
      taskId: run.taskId,
      epoch: run.epoch,
      outcome: result.outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
    };
    if (result.usage !== undefined) fields.usage = result.usage;
    if (result.result !== undefined) fields.result = result.result;
    if (result.error !== undefined) fields.error = result.error;
    // Ended before its accept went out: the finish alone says it all (a finish is valid straight from
    // leased, and its durationMs dates the start).
    clearTimeout(run.acceptTimer);
    run.acceptTimer = undefined;
    this.outbox.sendForRun(run, this.finishFrame(fields));
    if (run.outbox.length === 0 && this.table.get(run.taskId) === run) this.table.delete(run.taskId);
    this.settings.logger.info(
      { taskId: run.taskId, outcome: result.outcome, durationMs: result.durationMs },
      "task finished",
    );
    // The next held assignment takes the slot in this turn, with no round trip to the coordinator.
    this.events.slotFreed();
    this.events.finished();
  }

  private startRun(run: Run, spec: TaskSpec, attempt: number): RunHandle {
    const settings = this.settings;
    // Options are built up by assignment: in V8, properties written after a spread in one object literal
    // (`{ ...common, taskId }`) take a slow path that cost a microsecond or more per run.
    const onOutput = (chunk: OutputChunk): void => this.onRunOutput(run, chunk);
    if (spec.kind === "call") {
      const handler = settings.handlers[spec.handler];
      if (handler === undefined) throw new FlotillaError("E_INTERNAL", "handler vanished");
      const callOptions: CallOptions = {
        taskId: run.taskId,
        attempt,
        epoch: run.epoch,
        onOutput,
        onProgress: (percent, message) => {
          const fields: MessageFields<"task.progress"> = { taskId: run.taskId, epoch: run.epoch, percent };
          if (message !== undefined) fields.message = message;
          // A NaN percent or a message that is not a string is the handler's mistake: it gets the error.
          const valid = Number.isFinite(percent) && (message === undefined || typeof message === "string");
          if (run.acceptTimer !== undefined) this.sendAccept(run);
          const outbox = this.outbox;
          outbox.sendForRun(
            run,
            valid ? outbox.frame("task.progress", fields) : outbox.checkedFrame("task.progress", fields),
          );
        },
      };
      if (spec.timeoutMs !== undefined) callOptions.timeoutMs = spec.timeoutMs;
      return startCall(handler, spec.payload, callOptions);
    }
    const execSpec: ExecSpec = { cwd: spec.cwd ?? settings.workDir ?? process.cwd() };
    if (spec.argv !== undefined) execSpec.argv = spec.argv;
    if (spec.shell !== undefined) execSpec.shell = spec.shell;
    // The lease, so a command can guard its own side effects; set over the task's env, which cannot fake it.
    execSpec.env = {
      ...spec.env,
      ...spec.secretEnv,
      FLOTILLA_TASK_ID: run.taskId,
      FLOTILLA_ATTEMPT: String(attempt),
      FLOTILLA_EPOCH: String(run.epoch),
    };
    // Masked in the output whatever their names.
    if (spec.secretEnv !== undefined) execSpec.maskedValues = Object.values(spec.secretEnv);
    const execOptions: ExecOptions = {
      onOutput,
      killGraceMs: settings.killGraceMs,
      preparedEnv: settings.taskEnv,
    };
    if (spec.timeoutMs !== undefined) execOptions.timeoutMs = spec.timeoutMs;
    if (settings.spawner !== undefined) execOptions.spawner = settings.spawner;
    return startExec(execSpec, execOptions);
  }
}

/** A run that fails at once with `code` and `message`, its command never started. */
function unrunnable(code: ErrorCode, message: string): RunHandle {
  return {
    done: Promise.resolve({
      outcome: "failed",
      exitCode: null,
      signal: null,
      durationMs: 0,
      error: { code, message },
    }),
    cancel: () => {},
    kill: () => {},
  };
}
