import { TERMINAL_STATES } from "@flotilla/protocol";
import type { FrameWriter } from "./frames.js";
import { publicTask } from "./records.js";
import type { StoredTask } from "./store.js";

/** A connection as the fan-out sees it: where its frames go, and what it listens to. */
export interface Listener {
  /** Frames queued here leave at the end of the event-loop turn. */
  readonly outbox: { push(frame: string): void };
  /** Tasks this connection watches (`task.watch`). */
  readonly watching: Set<string>;
  /** Tasks submitted with `wait` on this connection that have not ended yet. */
  readonly awaiting: Set<string>;
}

/** One watch of one task; live frames wait in `pending` while the stored part is replayed. */
export interface TaskWatch<L extends Listener> {
  readonly listener: L;
  replaying: boolean;
  pending: string[];
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

/**
 * Who hears about a task, and what they get:
 * - watchers of the task (`task.watch`): its events, output and progress;
 * - connections that watch every event (`events.watch`): every task event and fleet event;
 * - submitters that wait (`task.submit` with `wait`): one `task.done` with the final record.
 *
 * A frame is built only when someone will get it: most tasks have no one watching.
 */
export class TaskFanout<L extends Listener> {
  private readonly watches = new Map<string, Set<TaskWatch<L>>>();
  private readonly waiters = new Map<string, Set<L>>();
  private readonly everything = new Set<L>();

  constructor(
    private readonly frames: FrameWriter,
    private readonly deps: {
      /** Reads a task's record, for a `task.done` whose end did not bring it. */
      loadTask(taskId: string): Promise<StoredTask | undefined>;
      /** Runs background work, logging what fails. */
      guard(work: Promise<unknown>): void;
    },
  ) {}

  /** Sends every task event and fleet event to `listener` from now on. */
  watchEverything(listener: L): void {
    this.everything.add(listener);
  }

  /** Forgets all `listener` listened to (its connection closed). */
  drop(listener: L): void {
    this.everything.delete(listener);
    for (const taskId of listener.watching) this.unwatch(listener, taskId);
    for (const taskId of listener.awaiting) this.stopAwaiting(listener, taskId);
  }

  /**
   * A task changed state (`eventJson` as its script wrote it). When the change ends the task, waiters get
   * `task.done` (with `task`, the final record, when the end brought it) and the watches end.
   */
  event(taskId: string, eventJson: string, terminal: boolean, task?: StoredTask): void {
    if (terminal && this.waiters.has(taskId)) this.deps.guard(this.deliverDone(taskId, task));
    const watches = this.watches.get(taskId);
    if (!watches && this.everything.size === 0) return;
    const frame = this.frames.event(eventJson);
    if (watches) {
      for (const watch of watches) {
        if (watch.replaying) watch.pending.push(frame);
        else watch.listener.outbox.push(frame);
      }
      if (terminal) {
        // A watch still replaying ends once its replay has sent what it buffered.
        for (const watch of watches) if (!watch.replaying) watch.listener.watching.delete(taskId);
        const remaining = [...watches].filter((watch) => watch.replaying);
        if (remaining.length === 0) this.watches.delete(taskId);
        else this.watches.set(taskId, new Set(remaining));
      }
    }
    for (const listener of this.everything) listener.outbox.push(frame);
  }

  /** Output of a task to its watchers, buffered for those still replaying; `build` runs only if one is there. */
  output(taskId: string, build: () => string): void {
    const watches = this.watches.get(taskId);
    if (!watches || watches.size === 0) return;
    const frame = build();
    for (const watch of watches) {
      if (watch.replaying) watch.pending.push(frame);
      else watch.listener.outbox.push(frame);
    }
  }

  /** Progress of a task to its live watchers (a replay does not need it: later progress supersedes it). */
  progress(taskId: string, build: () => string): void {
    const watches = this.watches.get(taskId);
    if (!watches || watches.size === 0) return;
    const frame = build();
    for (const watch of watches) if (!watch.replaying) watch.listener.outbox.push(frame);
  }

  /** A fleet event (a node joined, died, tripped its breaker) to those watching everything. */
  fleetEvent(build: () => string): void {
    if (this.everything.size === 0) return;
    const frame = build();
    for (const listener of this.everything) listener.outbox.push(frame);
  }

  /**
   * Starts watching a task. Changes from here on are buffered while the caller replays the stored part,
   * so nothing falls between the replay and the live stream; {@link endReplay} sends them after it.
   */
  watch(listener: L, taskId: string): TaskWatch<L> {
    const watch: TaskWatch<L> = { listener, replaying: true, pending: [] };
    addTo(this.watches, taskId, watch);
    listener.watching.add(taskId);
    return watch;
  }

  /** The replay is sent: what came in meanwhile follows, and the watch goes live. */
  endReplay(watch: TaskWatch<L>): void {
    for (const frame of watch.pending) watch.listener.outbox.push(frame);
    watch.pending = [];
    watch.replaying = false;
  }

  unwatch(listener: L, taskId: string): void {
    listener.watching.delete(taskId);
    const set = this.watches.get(taskId);
    if (!set) return;
    for (const watch of set) if (watch.listener === listener) set.delete(watch);
    if (set.size === 0) this.watches.delete(taskId);
  }

  /** Whether someone waits for the task's `task.done` (its end then reads the final record back). */
  awaited(taskId: string): boolean {
    return this.waiters.has(taskId);
  }

  /** `listener` gets `task.done` when the task ends. */
  await(listener: L, taskId: string): void {
    addTo(this.waiters, taskId, listener);
    listener.awaiting.add(taskId);
  }

  stopAwaiting(listener: L, taskId: string): void {
    listener.awaiting.delete(taskId);
    const set = this.waiters.get(taskId);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) this.waiters.delete(taskId);
  }

  /**
   * A duplicate submit with `wait`: the task may be running, or over already. Registered first, then read
   * again, so an end that lands in between is not missed (a second `task.done` is ignored by the client).
   */
  async awaitExisting(listener: L, taskId: string, state: string): Promise<void> {
    this.await(listener, taskId);
    if (TERMINAL.has(state)) {
      await this.deliverDone(taskId, undefined);
      return;
    }
    const task = await this.deps.loadTask(taskId);
    if (task && TERMINAL.has(task.state)) await this.deliverDone(taskId, task);
  }

  /** Sends `task.done` with the final record to every connection waiting for `taskId`. */
  private async deliverDone(taskId: string, known: StoredTask | undefined): Promise<void> {
    if (!this.waiters.has(taskId)) return;
    const task = known ?? (await this.deps.loadTask(taskId));
    const listeners = this.waiters.get(taskId);
    if (!task || !listeners) return;
    this.waiters.delete(taskId);
    const frame = this.frames.done(taskId, publicTask(task));
    for (const listener of listeners) {
      listener.awaiting.delete(taskId);
      listener.outbox.push(frame);
    }
  }
}

function addTo<T>(sets: Map<string, Set<T>>, key: string, value: T): void {
  const set = sets.get(key);
  if (set) set.add(value);
  else sets.set(key, new Set([value]));
}
