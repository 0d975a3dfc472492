import {
  errorFromWire,
  type FlotillaError,
  isTerminalState,
  type TaskRecord,
  type TaskState,
  type WireError,
} from "@flotilla/protocol";
import { Channel } from "./channel.js";
import type { FlotillaClient, TaskConsumer } from "./client.js";
import type { TaskUpdate } from "./client-options.js";
import { Resequencer } from "./resequencer.js";
import type { OutputChunk, TaskEvent } from "./wire.js";

/** Where to start following a task. */
export interface WatchOptions {
  /** First output sequence number wanted (default 0: everything). */
  fromSeq?: number;
}

/** How a task ended. */
export interface TaskResult {
  id: string;
  state: TaskState;
  /** The process's exit code; null when it died of a signal or never ran. */
  exitCode: number | null;
  /** The signal that ended the process, e.g. "SIGKILL". */
  signal: string | null;
  durationMs?: number;
  /** What a `call` task returned. */
  result?: unknown;
  /** Why the task did not succeed, when the coordinator said. */
  error?: FlotillaError;
  /** The full record. */
  record: TaskRecord;
}

/** A submitted or watched task. Each iterator is an independent subscriber with its own resume point. */
export interface TaskHandle {
  readonly id: string;
  /** True when the submit matched an earlier one by idempotency key. */
  readonly duplicate: boolean;
  /** State changes and output interleaved in the order they arrived; ends after the terminal event. */
  updates(options?: WatchOptions): AsyncIterable<TaskUpdate>;
  /** State changes; ends after the terminal event. */
  events(): AsyncIterable<TaskEvent>;
  /** Output chunks in seq order, none missed and none twice across reconnects. */
  output(options?: WatchOptions): AsyncIterable<OutputChunk>;
  /**
   * Resolves when the task reaches a terminal state. For a handle from `submit()` (which waits by default)
   * the coordinator pushes the outcome, so this costs no request; otherwise, or when the connection was
   * lost before the outcome came, it watches the task and then reads its record.
   */
  result(): Promise<TaskResult>;
  /** Asks the coordinator to cancel the task. */
  cancel(reason?: string): Promise<void>;
}

/** Sequence numbers beyond any real output: a subscriber that wants no output replayed. */
const NO_OUTPUT = Number.MAX_SAFE_INTEGER;

/**
 * @internal The outcome the coordinator promised a `wait` submit: its `task.done` brings the final record,
 * or the promise lapses with the connection it was made on. The record is kept here, on the handle's
 * side, so a `result()` called after it arrived resolves at once, and it is collected with the handle
 * when `result()` is never called.
 */
export class PushedOutcome {
  #record: TaskRecord | undefined;
  #lapsed = false;
  #wake: ((record: TaskRecord | undefined) => void) | undefined;

  /** `task.done` arrived with the final record. */
  done(record: TaskRecord): void {
    if (this.#record !== undefined || this.#lapsed) return;
    this.#record = record;
    this.#settle(record);
  }

  /** No `task.done` will come: the connection it was promised on went down, or the client closed. */
  lapse(): void {
    if (this.#record !== undefined || this.#lapsed) return;
    this.#lapsed = true;
    this.#settle(undefined);
  }

  /** The final record, or undefined once the promise lapsed. */
  wait(): Promise<TaskRecord | undefined> {
    if (this.#record !== undefined || this.#lapsed) return Promise.resolve(this.#record);
    return new Promise((resolve) => {
      const previous = this.#wake;
      this.#wake = (record) => {
        previous?.(record);
        resolve(record);
      };
    });
  }

  #settle(record: TaskRecord | undefined): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.(record);
  }
}

/**
 * @internal builds the handle the client returns from `submit` and `watch`. With `pushed` (a `wait`
 * submit), `result()` takes the pushed outcome and watches only when it lapsed.
 */
export function createTaskHandle(
  client: FlotillaClient,
  id: string,
  duplicate: boolean,
  defaults: WatchOptions = {},
  pushed?: PushedOutcome,
): TaskHandle {
  let result: Promise<TaskResult> | undefined;

  const subscribe = (fromSeq: number): Channel<TaskUpdate> => {
    const consumer: TaskConsumer = {
      sequencer: new Resequencer(fromSeq),
      seenEvents: new Set(),
      deliver: (update) => channel.push(update),
      end: () => channel.end(),
      fail: (error) => channel.fail(error),
    };
    const channel: Channel<TaskUpdate> = new Channel(() => client.removeConsumer(id, consumer));
    client.addConsumer(id, consumer);
    return channel;
  };

  const handle: TaskHandle = {
    id,
    duplicate,
    updates: (options = {}) => subscribe(options.fromSeq ?? defaults.fromSeq ?? 0),
    events: () =>
      filter(subscribe(NO_OUTPUT), (update) => (update.kind === "event" ? update.event : undefined)),
    output: (options = {}) =>
      filter(subscribe(options.fromSeq ?? defaults.fromSeq ?? 0), (update) =>
        update.kind === "output" ? update.chunk : undefined,
      ),
    result: () => {
      const watched = () => waitForResult(client, id, subscribe(NO_OUTPUT));
      result ??= pushed === undefined ? watched() : pushedOrWatched(pushed, watched);
      return result;
    },
    cancel: async (reason) => {
      await client.cancel(id, reason);
    },
  };
  return handle;
}

async function* filter<T>(
  source: AsyncIterable<TaskUpdate>,
  pick: (update: TaskUpdate) => T | undefined,
): AsyncIterable<T> {
  for await (const update of source) {
    const value = pick(update);
    if (value !== undefined) yield value;
  }
}

async function pushedOrWatched(
  pushed: PushedOutcome,
  watched: () => Promise<TaskResult>,
): Promise<TaskResult> {
  // After a lost connection the watch replays the latest state change, so a task that ended while the
  // client was away still resolves.
  const record = await pushed.wait();
  return record === undefined ? await watched() : toResult(record);
}

async function waitForResult(
  client: FlotillaClient,
  id: string,
  updates: Channel<TaskUpdate>,
): Promise<TaskResult> {
  // The coordinator answers a watch with the task's latest state change, so a task that finished before
  // this subscription still ends it at once; then one lookup reads the outcome.
  const iterator = updates[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      if (next.value.kind === "event" && isTerminalState(next.value.event.state)) break;
    }
    return toResult(await client.task(id));
  } finally {
    await iterator.return?.();
  }
}

/** Reads a task's outcome from its record. */
export function toResult(record: TaskRecord): TaskResult {
  const outcome: TaskResult = { id: record.id, state: record.state, exitCode: null, signal: null, record };
  if (!("finishedAt" in record)) return outcome;
  outcome.exitCode = record.exitCode ?? null;
  outcome.signal = record.signal ?? null;
  if (record.durationMs !== undefined) outcome.durationMs = record.durationMs;
  if (record.result !== undefined) outcome.result = record.result;
  if (record.error !== undefined) outcome.error = fromWireError(record.error);
  return outcome;
}

/** Rebuilds a {@link FlotillaError} from a wire error, leaving out absent optional fields. */
export function fromWireError(wire: WireError): FlotillaError {
  const { code, message, retryable, details } = wire;
  return errorFromWire({
    code,
    message,
    ...(retryable === undefined ? {} : { retryable }),
    ...(details === undefined ? {} : { details }),
  });
}
