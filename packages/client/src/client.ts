import {
  type Alert,
  type AlertList,
  createMessage,
  decode,
  encodeFields,
  type FleetHistory,
  FlotillaError,
  isTerminalState,
  type Message,
  type MessageFields,
  type MessageOf,
  type MessageType,
  randomId,
  type SubmitManyOutcome,
  type TaskRecord,
  type TaskSpecInput,
} from "@flotilla/protocol";
import { Channel } from "./channel.js";
import { type ChatApi, createChatApi } from "./chat.js";
import type {
  AlertsOptions,
  ConnectOptions,
  DlqApi,
  HistoryOptions,
  RequestOptions,
  SubmitOptions,
  TaskUpdate,
} from "./client-options.js";
import { Connection } from "./connection.js";
import { clientEndpoints } from "./endpoints.js";
import { createProjectsApi, type ProjectsApi } from "./projects.js";
import { asRecord, closedError, isId, isIdempotent, peek } from "./requests.js";
import type { Resequencer } from "./resequencer.js";
import { type SubmitManyOptions, type SubmitManyResult, submitMany } from "./submit-many.js";
import {
  createTaskHandle,
  fromWireError,
  PushedOutcome,
  type TaskHandle,
  type WatchOptions,
} from "./task-handle.js";
import type {
  DlqEntry,
  FleetEvent,
  NodeView,
  OutputChunk,
  StoredOutput,
  TaskEvent,
  TaskFilter,
} from "./wire.js";

/** @internal a subscriber to one task's updates, with its own resume point. */
export interface TaskConsumer {
  readonly sequencer: Resequencer<OutputChunk>;
  readonly seenEvents: Set<string>;
  deliver(update: TaskUpdate): void;
  end(): void;
  fail(error: FlotillaError): void;
}

interface Pending {
  readonly type: string;
  frame: string;
  /** The frame to send instead when it goes again after a lost connection (see `firstSendOnly`). */
  again: (() => string) | undefined;
  /** Safe to send again after a lost connection (the coordinator dedupes or it has no effect). */
  readonly resend: boolean;
  sent: boolean;
  readonly timer: NodeJS.Timeout;
  /** Runs as the `task.accepted` answer is read, before any later frame of the same read. */
  readonly accepted: ((message: MessageOf<"task.accepted">) => void) | undefined;
  resolve(message: Message): void;
  reject(error: FlotillaError): void;
}

/** How {@link FlotillaClient.#send} builds and tracks one request. */
interface SendOptions extends RequestOptions {
  /**
   * The fields are known to pass the schema (the client built them from checked values): the frame is
   * written without validating it again. User input is always validated, so its errors name the field.
   */
  trusted?: boolean;
  accepted?: (message: MessageOf<"task.accepted">) => void;
  /** Fields for the first send only: a resend after a lost connection leaves them out. */
  firstSendOnly?: Record<string, unknown>;
}

const FRESH_KEY = { freshKey: true } as const;

/**
 * A session with the coordinator. Requests are matched to replies by message id; while the connection is
 * down they wait for the reconnect (up to their timeout). Task watches resume after a reconnect from the
 * last sequence number each subscriber has seen, so no output chunk is missed and none is seen twice.
 */
export class FlotillaClient {
  /** This client's id on the wire. */
  readonly clientId: string;
  /** Dead-letter queue operations. */
  readonly dlq: DlqApi;
  /** Broadcasts, direct messages and named topics, live and kept. */
  readonly chat: ChatApi;
  /** Projects: task lists shared by the fleet's agents. */
  readonly projects: ProjectsApi;
  readonly #connection: Connection;
  readonly #pending = new Map<string, Pending>();
  readonly #watches = new Map<string, Set<TaskConsumer>>();
  readonly #fleetSubscribers = new Set<Channel<FleetEvent>>();
  /**
   * The outcomes promised to `wait` submits on the current socket, by task id, until their `task.done`.
   * A promise lapses with its socket, so this never outlives a connection nor holds a finished task.
   */
  readonly #promised = new Map<string, PushedOutcome[]>();
  readonly #requestTimeoutMs: number;
  readonly #clock: () => number;
  #closedError: FlotillaError | undefined;
  #closed = false;
  #firstOpen: { resolve: () => void; reject: (error: FlotillaError) => void } | undefined;
  #messageCount = 0;

  /** Use {@link connect}; the constructor does not open a socket. */
  constructor(options: ConnectOptions) {
    this.clientId = options.clientId ?? `client-${randomId().slice(0, 8)}`;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#clock = options.clock ?? Date.now;
    const reconnect =
      options.reconnect === false
        ? false
        : {
            baseMs: options.reconnect?.baseMs ?? 100,
            maxMs: options.reconnect?.maxMs ?? 5_000,
            giveUpAfterMs: options.reconnect?.giveUpAfterMs ?? 300_000,
          };
    this.#connection = new Connection(
      {
        urls: clientEndpoints(options),
        token: options.token,
        ca: options.ca,
        reconnect,
        pingIntervalMs: options.pingIntervalMs ?? 15_000,
        dialTimeoutMs: options.dialTimeoutMs ?? 3_000,
        createSocket: options.WebSocket,
        clock: this.#clock,
        random: options.random ?? Math.random,
      },
      {
        onOpen: () => this.#onOpen(),
        onFrame: (raw) => this.#onFrame(raw),
        onDown: () => this.#onDown(),
        onClosed: (error) => this.#onClosed(error),
      },
    );
    this.dlq = {
      list: async () => (await this.request<{ entries: DlqEntry[] }>("dlq.list", {})).entries,
      get: (taskId) => this.request("dlq.get", { taskId }),
      retry: (taskId) => this.request("dlq.retry", { taskId }),
      purge: (taskId) => this.request("dlq.purge", taskId === undefined ? {} : { taskId }),
    };
    this.chat = createChatApi(this);
    this.projects = createProjectsApi(
      (type, fields, requestOptions) => this.request(type, fields, requestOptions),
      {
        agent: options.agent,
        capabilities: options.capabilities,
      },
    );
  }

  /** @internal opens the first socket and waits for it (used by {@link connect}). */
  async open(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#firstOpen = undefined;
        const error = this.#connection.unreachable(`no connection within ${timeoutMs} ms`);
        this.close();
        reject(error);
      }, timeoutMs);
      this.#firstOpen = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#connection.start();
    });
  }

  /** Whether a socket is open right now. */
  get connected(): boolean {
    return this.#connection.isOpen;
  }

  /**
   * Submits a task. Resolves once the coordinator has persisted it (`task.accepted`). An idempotency key
   * is added when the spec has none, so a submit resent after a lost connection is not run twice.
   *
   * By default the coordinator is asked to push the outcome when the task ends, which is what makes
   * `result()` cheap; pass `{ wait: false }` when you will not call `result()` (see {@link SubmitOptions}).
   *
   * @example
   * const { exitCode } = await (await client.submit({ kind: "exec", argv: ["make"] })).result();
   * const queued = await client.submit({ kind: "exec", argv: ["./nightly.sh"] }, { wait: false });
   */
  async submit(spec: TaskSpecInput, options: SubmitOptions = {}): Promise<TaskHandle> {
    let withKey = spec;
    const send: SendOptions = {};
    if (spec.idempotencyKey === undefined) {
      // Copied with Object.assign and then set. A spread copy (`{ ...spec }`) given a key afterwards got a
      // hidden class of its own nearly every time in a busy client (19,983 of 20,000 submits, checked
      // with %HaveSameMap), so every cache V8 keeps by object shape missed on it, in the validator above
      // all: a seventh of the client's time. `{ ...spec, idempotencyKey }` takes a slow path of its own.
      withKey = Object.assign({}, spec);
      withKey.idempotencyKey = `${this.clientId}:${randomId()}`;
      // A key made here cannot name an older task, until the submit is sent again: the coordinator may
      // then start the run before Redis has answered (`freshKey` in the protocol).
      send.firstSendOnly = FRESH_KEY;
    }
    const wait = options.wait !== false;
    let pushed: PushedOutcome | undefined;
    if (options.timeoutMs !== undefined) send.timeoutMs = options.timeoutMs;
    if (wait) {
      // Registered as the answer is read: the `task.done` of a duplicate that already ended follows it
      // in the same read, before this function resumes.
      // A coordinator that does not know `wait` says nothing of it: result() then watches instead.
      send.accepted = (message) => {
        if (message.waiting === true) pushed = this.#promise(message.taskId);
      };
    }
    const accepted = await this.#send(
      "task.submit",
      wait ? { spec: withKey, wait } : { spec: withKey },
      true,
      send,
    );
    if (accepted.type !== "task.accepted") {
      throw new FlotillaError("E_INTERNAL", `the coordinator answered task.submit with ${accepted.type}`);
    }
    return createTaskHandle(this, accepted.taskId, accepted.duplicate, {}, pushed);
  }

  /**
   * Submits many tasks: each spec validated on its own, the valid ones sent in `task.submitMany` frames
   * of up to 1000 (one round trip and one Redis script call each). Resolves with one outcome per spec, in
   * order: its task id, or why it was refused. `allOrNothing` refuses all when one is invalid.
   *
   * @example
   * const results = await client.submitMany(lines.map((line) => JSON.parse(line)));
   * for (const r of results) if (!r.ok) console.error(`spec ${r.index}: ${r.message}`);
   */
  submitMany(specs: readonly TaskSpecInput[], options: SubmitManyOptions = {}): Promise<SubmitManyResult[]> {
    const send: SendOptions = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
    return submitMany(
      specs,
      this.clientId,
      async (batch, allOrNothing) => {
        const fields = allOrNothing ? { specs: batch, allOrNothing } : { specs: batch };
        const reply = await this.#send("task.submitMany", fields, true, send);
        return (reply as { result: { results: SubmitManyOutcome[] } }).result.results;
      },
      options,
    );
  }

  /** A handle on an existing task, to follow its output from `fromSeq` (default 0). */
  watch(taskId: string, options: WatchOptions = {}): TaskHandle {
    return createTaskHandle(this, taskId, false, options);
  }

  /** One task's record. */
  async task(taskId: string, options: RequestOptions = {}): Promise<TaskRecord> {
    const reply = await this.#send("task.get", { taskId }, true, { ...options, trusted: isId(taskId) });
    return (reply.type === "reply" ? reply.result : reply) as TaskRecord;
  }

  /**
   * A task's state changes as the coordinator stored them, oldest first, each with its node and time
   * (also those that happened before this client connected).
   */
  async taskEvents(taskId: string, options: RequestOptions = {}): Promise<TaskEvent[]> {
    return (await this.request<{ events: TaskEvent[] }>("task.events", { taskId }, options)).events;
  }

  /** Tasks matching `filter`. */
  async tasks(filter: TaskFilter = {}, options: RequestOptions = {}): Promise<TaskRecord[]> {
    return (await this.request<{ tasks: TaskRecord[] }>("tasks.list", { ...filter }, options)).tasks;
  }

  /** The fleet's nodes. */
  async nodes(options: RequestOptions = {}): Promise<NodeView[]> {
    return (await this.request<{ nodes: NodeView[] }>("nodes.list", {}, options)).nodes;
  }

  /**
   * The fleet's alerts: the firing ones, newest first, then those resolved recently (with `resolvedAt`);
   * `{ firingOnly: true }` leaves the resolved ones out. Alert changes are also pushed to {@link events}
   * as `broadcast` frames whose `message` is `alert.fired` or `alert.resolved` and whose `data` is the alert.
   */
  async alerts(options: AlertsOptions = {}): Promise<Alert[]> {
    const fields = options.firingOnly === true ? {} : { all: true };
    return (await this.request<AlertList>("alerts.list", fields, options)).alerts;
  }

  /**
   * The fleet's recent history for charts, oldest sample first: the last `minutes` (default: all the
   * coordinator keeps, 15 minutes unless configured), one sample per `intervalMs`.
   */
  async history(options: HistoryOptions = {}): Promise<FleetHistory> {
    const fields = options.minutes === undefined ? {} : { minutes: options.minutes };
    return await this.request<FleetHistory>("history.get", fields, options);
  }

  /** A task's stored output: its last `tail` chunks, or from output seq `fromSeq` on (at most 1000). */
  async output(taskId: string, options: { tail?: number; fromSeq?: number } = {}): Promise<StoredOutput> {
    return await this.request<StoredOutput>("output.read", { taskId, ...options });
  }

  /** Cancels a task: the node stops its whole process group. */
  async cancel(taskId: string, reason?: string): Promise<Record<string, unknown>> {
    return await this.request("task.cancel", reason === undefined ? { taskId } : { taskId, reason });
  }

  /** Stops placing new work on a node; running tasks finish. */
  async drain(nodeId: string): Promise<Record<string, unknown>> {
    return await this.request("node.drain", { nodeId });
  }

  /** Lets a drained node take work again. */
  async undrain(nodeId: string): Promise<Record<string, unknown>> {
    return await this.request("node.undrain", { nodeId });
  }

  /** Sends a message to every agent (and every other listener on `agents:general`). */
  async broadcast(message: string, data?: unknown): Promise<Record<string, unknown>> {
    // Not resent after a lost connection: a broadcast that did go out would be delivered twice.
    const reply = await this.#send("broadcast", data === undefined ? { message } : { message, data }, false);
    return asRecord(reply.type === "reply" ? reply.result : undefined);
  }

  /**
   * Fleet events as the coordinator pushes them (task state changes, broadcasts, node changes). The
   * subscription is renewed after every reconnect; events while disconnected are not replayed.
   */
  events(): AsyncIterable<FleetEvent> {
    const channel: Channel<FleetEvent> = new Channel(() => this.#fleetSubscribers.delete(channel));
    if (this.#closed) {
      channel.fail(this.#closedError ?? closedError());
      return channel;
    }
    const first = this.#fleetSubscribers.size === 0;
    this.#fleetSubscribers.add(channel);
    if (first && this.#connection.isOpen) this.#watchFleet();
    return channel;
  }

  /** Sends a request and resolves with its reply's `result`; rejects with the coordinator's error. */
  async request<R = Record<string, unknown>, T extends MessageType = MessageType>(
    type: T,
    fields: MessageFields<T>,
    options: RequestOptions = {},
  ): Promise<R> {
    const reply = await this.#send(type, fields, isIdempotent(type), options);
    return (reply.type === "reply" ? reply.result : reply) as R;
  }

  /** Drops the socket as if the network failed (the client reconnects); for tests and recovery. */
  dropConnection(): void {
    this.#connection.drop();
  }

  /** Closes the session: pending requests and streams fail with E_COORDINATOR_UNAVAILABLE. */
  close(): void {
    this.#connection.close();
  }

  /** @internal registers a task subscriber and asks the coordinator for updates from its `nextSeq`. */
  addConsumer(taskId: string, consumer: TaskConsumer): void {
    if (this.#closed) {
      consumer.fail(this.#closedError ?? closedError());
      return;
    }
    let consumers = this.#watches.get(taskId);
    if (!consumers) {
      consumers = new Set();
      this.#watches.set(taskId, consumers);
    }
    consumers.add(consumer);
    // Each new subscriber asks from its own point; the others drop the replayed chunks by seq.
    if (this.#connection.isOpen) this.#watchTask(taskId, consumer.sequencer.nextSeq);
  }

  /** @internal unregisters a task subscriber; the last one out unwatches. */
  removeConsumer(taskId: string, consumer: TaskConsumer): void {
    const consumers = this.#watches.get(taskId);
    if (!consumers?.delete(consumer) || consumers.size > 0) return;
    this.#watches.delete(taskId);
    if (this.#connection.isOpen) {
      this.#send("task.unwatch", { taskId }, false, { trusted: isId(taskId) }).catch(() => {});
    }
  }

  #watchTask(taskId: string, fromSeq: number): void {
    // The id may come from `watch(id)` and `fromSeq` from its options: checked before skipping the schema.
    const trusted = isId(taskId) && Number.isSafeInteger(fromSeq) && fromSeq >= 0;
    this.#send("task.watch", { taskId, fromSeq }, false, { trusted }).catch((error: FlotillaError) => {
      // A lost connection is healed by the re-watch on reconnect; anything else ends the subscribers.
      if (error.code === "E_COORDINATOR_UNAVAILABLE" && !this.#closed) return;
      const consumers = this.#watches.get(taskId);
      this.#watches.delete(taskId);
      for (const consumer of consumers ?? []) consumer.fail(error);
    });
  }

  #watchFleet(): void {
    this.#send("events.watch", {}, false, { trusted: true }).catch((error: FlotillaError) => {
      if (error.code === "E_COORDINATOR_UNAVAILABLE" && !this.#closed) return;
      for (const channel of this.#fleetSubscribers) channel.fail(error);
    });
  }

  /** A promise of `task.done` for a `wait` submit just accepted on the current socket. */
  #promise(taskId: string): PushedOutcome {
    const pushed = new PushedOutcome();
    const list = this.#promised.get(taskId);
    if (list === undefined) this.#promised.set(taskId, [pushed]);
    else list.push(pushed);
    return pushed;
  }

  #send<T extends MessageType>(
    type: T,
    fields: MessageFields<T>,
    resend: boolean,
    options: SendOptions = {},
  ): Promise<Message> {
    if (this.#closed) return Promise.reject(this.#closedError ?? closedError());
    this.#messageCount += 1;
    const id = `${this.clientId}-${this.#messageCount}`;
    const envelope = { from: this.clientId, id, now: this.#clock };
    const encode = (withFields: MessageFields<T>): string =>
      options.trusted
        ? encodeFields(type, withFields, envelope)
        : JSON.stringify(createMessage(type, withFields, envelope));
    const firstSendOnly = options.firstSendOnly;
    let frame: string;
    try {
      // createMessage validates: a bad spec fails here with the path of the bad field, not on the server.
      frame = encode(firstSendOnly === undefined ? fields : { ...fields, ...firstSendOnly });
    } catch (error) {
      return Promise.reject(error);
    }
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new FlotillaError(
            "E_COORDINATOR_UNAVAILABLE",
            `no reply to ${type} within ${timeoutMs} ms — check that the coordinator is running and reachable`,
            { details: { request: type, timeoutMs } },
          ),
        );
      }, timeoutMs);
      const pending: Pending = {
        type,
        frame,
        again: firstSendOnly === undefined ? undefined : () => encode(fields),
        resend,
        sent: false,
        timer,
        accepted: options.accepted,
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      pending.sent = this.#connection.send(frame);
    });
  }

  #onOpen(): void {
    this.#firstOpen?.resolve();
    this.#firstOpen = undefined;
    // Subscriptions first, so pushes resume before anything else is answered.
    for (const [taskId, consumers] of this.#watches) {
      let fromSeq = Number.POSITIVE_INFINITY;
      for (const consumer of consumers) fromSeq = Math.min(fromSeq, consumer.sequencer.nextSeq);
      this.#watchTask(taskId, Number.isFinite(fromSeq) ? fromSeq : 0);
    }
    if (this.#fleetSubscribers.size > 0) this.#watchFleet();
    for (const pending of this.#pending.values()) {
      if (!pending.sent) pending.sent = this.#connection.send(pending.frame);
    }
  }

  #onDown(): void {
    // The coordinator forgets what it promised this socket: those results are watched for instead.
    this.#lapsePromises();
    for (const [id, pending] of this.#pending) {
      if (!pending.sent) continue;
      if (pending.resend) {
        pending.sent = false;
        if (pending.again !== undefined) {
          pending.frame = pending.again();
          pending.again = undefined;
        }
        continue;
      }
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(
        new FlotillaError(
          "E_COORDINATOR_UNAVAILABLE",
          `the connection was lost before the reply to ${pending.type}; it may or may not have taken effect — check and retry`,
          { details: { request: pending.type } },
        ),
      );
    }
  }

  #lapsePromises(): void {
    if (this.#promised.size === 0) return;
    const lists = [...this.#promised.values()];
    this.#promised.clear();
    for (const list of lists) for (const pushed of list) pushed.lapse();
  }

  #onClosed(error: FlotillaError | undefined): void {
    this.#closed = true;
    this.#closedError = error;
    // A pending `result()` falls back to a watch, which fails with the reason below.
    this.#lapsePromises();
    const failure = error ?? closedError();
    this.#firstOpen?.reject(failure);
    this.#firstOpen = undefined;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(failure);
    }
    this.#pending.clear();
    for (const consumers of this.#watches.values()) {
      for (const consumer of consumers) consumer.fail(failure);
    }
    this.#watches.clear();
    for (const channel of this.#fleetSubscribers) channel.fail(failure);
    this.#fleetSubscribers.clear();
  }

  #onFrame(raw: string): void {
    const decoded = decode(raw);
    if (!decoded.ok) {
      const fields = peek(raw);
      // A malformed answer still ends its request, with the reason, instead of a timeout later.
      const replyTo = typeof fields.replyTo === "string" ? fields.replyTo : undefined;
      const pending = replyTo === undefined ? undefined : this.#pending.get(replyTo);
      if (replyTo !== undefined && pending) {
        this.#pending.delete(replyTo);
        clearTimeout(pending.timer);
        pending.reject(decoded.error);
      }
      // An outcome that cannot be read is as good as none: its `result()` watches and looks up instead.
      if (fields.type === "task.done" && typeof fields.taskId === "string") this.#lapse(fields.taskId);
      return;
    }
    const message = decoded.message;
    if (message.type === "reply" || message.type === "task.accepted" || message.type === "error") {
      const pending = message.replyTo === undefined ? undefined : this.#pending.get(message.replyTo);
      if (message.replyTo !== undefined && pending) {
        this.#pending.delete(message.replyTo);
        clearTimeout(pending.timer);
        if (message.type === "error") pending.reject(fromWireError(message));
        else {
          if (message.type === "task.accepted") pending.accepted?.(message);
          pending.resolve(message);
        }
        return;
      }
      if (message.type !== "error") return;
    }
    if (message.type === "task.output") {
      this.#onOutput(message);
      return;
    }
    if (message.type === "task.done") {
      // The submitter's own answer, not a fleet event: `events()` subscribers see the terminal `task.event`.
      this.#onDone(message);
      return;
    }
    if (message.type === "task.event") this.#onTaskEvent(message);
    for (const channel of this.#fleetSubscribers) channel.push(message);
  }

  #lapse(taskId: string): void {
    const list = this.#promised.get(taskId);
    if (list === undefined) return;
    this.#promised.delete(taskId);
    for (const pushed of list) pushed.lapse();
  }

  #onDone(message: MessageOf<"task.done">): void {
    const list = this.#promised.get(message.taskId);
    if (list === undefined) return;
    this.#promised.delete(message.taskId);
    // Concurrent duplicate submits of one task share its outcome: the first `task.done` settles them all.
    for (const pushed of list) pushed.done(message.record);
  }

  #onOutput(message: MessageOf<"task.output">): void {
    const consumers = this.#watches.get(message.taskId);
    if (!consumers) return;
    const chunk: OutputChunk = {
      taskId: message.taskId,
      stream: message.stream,
      seq: message.seq,
      data: message.data,
      epoch: message.epoch,
    };
    let replay = false;
    for (const consumer of consumers) {
      const accepted = consumer.sequencer.accept(chunk);
      for (const ready of accepted.ready) consumer.deliver({ kind: "output", chunk: ready });
      replay ||= accepted.replayFromStart;
    }
    // A retry on another node restarted seq at 0 while we were away: fetch the new run from its start.
    if (replay && this.#connection.isOpen) this.#watchTask(message.taskId, 0);
  }

  #onTaskEvent(message: MessageOf<"task.event">): void {
    const consumers = this.#watches.get(message.taskId);
    if (!consumers) return;
    const { v: _v, type: _type, id: _id, timestamp: _timestamp, from: _from, ...event } = message;
    // Events carry no seq: a re-watch may replay them, so one is known by what it says.
    const key = `${event.state}|${event.attempt}|${event.epoch ?? ""}|${event.at}`;
    const terminal = isTerminalState(event.state);
    for (const consumer of [...consumers]) {
      // Output held behind a gap goes out before the end: the task will produce no more.
      if (terminal) {
        for (const chunk of consumer.sequencer.flush()) consumer.deliver({ kind: "output", chunk });
      }
      if (!consumer.seenEvents.has(key)) {
        consumer.seenEvents.add(key);
        consumer.deliver({ kind: "event", event: event satisfies TaskEvent });
      }
      if (terminal) consumer.end();
    }
    if (terminal) this.#watches.delete(message.taskId);
  }
}

/**
 * Connects to a coordinator and resolves once the first socket is open. Rejects with `E_UNAUTHORIZED`
 * when the token is refused and `E_COORDINATOR_UNAVAILABLE` when nothing answers in time.
 */
export async function connect(options: ConnectOptions): Promise<FlotillaClient> {
  const client = new FlotillaClient(options);
  await client.open(options.connectTimeoutMs ?? 10_000);
  return client;
}
