import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import {
  createMessage,
  decode,
  isTerminalState,
  type Message,
  type MessageFields,
  type MessageOf,
  type MessageType,
  type TaskRecord,
  type TaskSpecInput,
  type TaskState,
} from "@flotilla/protocol";
import { type WebSocket, WebSocketServer } from "ws";
import type { DlqEntry, NodeView } from "./wire.js";

/**
 * A stand-in coordinator speaking the client half of the wire contract, for tests of the SDK, the CLI and
 * anything built on them. Tasks live in memory (they survive `restart()`, as Redis would); what happens
 * to a submitted task is up to the `runner`.
 */
export interface FakeCoordinatorOptions {
  /** Required bearer token; none by default. */
  token?: string;
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Drives a task after it is accepted, e.g. {@link localRunner}. */
  runner?: (task: TaskRecord, fake: FakeCoordinator) => void;
  /** Answers a request itself: return true when handled (used to simulate slow or odd coordinators). */
  intercept?: (message: Message, socket: WebSocket, fake: FakeCoordinator) => boolean;
  clock?: () => number;
  /** Behave like a coordinator that predates `wait`: no `waiting` in task.accepted and no task.done. */
  ignoreWait?: boolean;
}

type TimelineEntry = { kind: "event"; frame: string } | { kind: "output"; seq: number; frame: string };

interface FakeTask {
  record: TaskRecord;
  timeline: TimelineEntry[];
  nextSeq: number;
  /** The epoch whose run produced the last chunk: a new epoch (a retry elsewhere) restarts seq at 0. */
  outputEpoch: number;
  watchers: Set<WebSocket>;
  /** Sockets that submitted it with `wait`: each gets a `task.done` when it ends (dropped on close). */
  doneWaiters: Set<WebSocket>;
  process?: ChildProcess;
}

/** A test double of the coordinator's client endpoint, on a real WebSocket server. */
export class FakeCoordinator {
  /** Every frame received from clients, in order. */
  readonly received: Message[] = [];
  /** What `nodes.list` answers. */
  nodes: NodeView[] = [];
  /** What `dlq.list` answers. */
  dlq: DlqEntry[] = [];
  readonly #tasks = new Map<string, FakeTask>();
  readonly #byIdempotencyKey = new Map<string, FakeTask>();
  readonly #sockets = new Set<WebSocket>();
  readonly #eventWatchers = new Set<WebSocket>();
  readonly #options: FakeCoordinatorOptions;
  readonly #clock: () => number;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #port: number;
  #taskCount = 0;
  #messageCount = 0;

  private constructor(options: FakeCoordinatorOptions) {
    this.#options = options;
    this.#port = options.port ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  /** Starts a fake coordinator on loopback. */
  static async start(options: FakeCoordinatorOptions = {}): Promise<FakeCoordinator> {
    const fake = new FakeCoordinator(options);
    await fake.listen();
    return fake;
  }

  /** `ws://127.0.0.1:<port>`: what a client is given as its URL. */
  get url(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  /** Number of open client sockets. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** A stored task, or undefined. */
  task(taskId: string): TaskRecord | undefined {
    return this.#tasks.get(taskId)?.record;
  }

  /** All stored tasks. */
  tasks(): TaskRecord[] {
    return [...this.#tasks.values()].map((task) => task.record);
  }

  /** The requests of one type received so far. */
  requests<T extends MessageType>(type: T): MessageOf<T>[] {
    return this.received.filter((message): message is MessageOf<T> => message.type === type);
  }

  /** Adds a task directly (as if submitted earlier). */
  addTask(spec: TaskSpecInput, state: TaskState = "queued"): TaskRecord {
    this.#taskCount += 1;
    const now = this.#clock();
    // Records here are kept loosely: a test moves them between states at will.
    const record = {
      id: `t-${this.#taskCount}`,
      spec: { priority: "normal", ...spec },
      state,
      attempt: 1,
      epoch: 1,
      node: "fake-node",
      createdAt: now,
      updatedAt: now,
      queuedAt: now,
      startedAt: now,
      ...(isTerminalState(state) ? { finishedAt: now } : {}),
    } as TaskRecord;
    const task: FakeTask = {
      record,
      timeline: [],
      nextSeq: 0,
      outputEpoch: record.epoch,
      watchers: new Set(),
      doneWaiters: new Set(),
    };
    this.#tasks.set(record.id, task);
    if (record.spec.idempotencyKey !== undefined)
      this.#byIdempotencyKey.set(record.spec.idempotencyKey, task);
    return record;
  }

  /**
   * Moves a task to `state` and pushes a `task.event` to its watchers; a terminal state also sends
   * `task.done` to the sockets that submitted it with `wait`.
   */
  setState(taskId: string, state: TaskState, fields: Partial<TaskRecord> & { reason?: string } = {}): void {
    const task = this.#need(taskId);
    const previous = task.record.state;
    const { reason, ...rest } = fields;
    const now = this.#clock();
    Object.assign(
      task.record,
      rest,
      { state, updatedAt: now },
      isTerminalState(state) ? { finishedAt: now } : {},
    );
    if (state === "waiting" && reason !== undefined) Object.assign(task.record, { waitingReason: reason });
    const frame = this.#frame("task.event", {
      taskId,
      state,
      previous,
      at: now,
      attempt: task.record.attempt,
      epoch: task.record.epoch,
      ...(task.record.node === undefined ? {} : { node: task.record.node }),
      ...(reason === undefined ? {} : { reason }),
    });
    task.timeline.push({ kind: "event", frame });
    for (const socket of task.watchers) socket.send(frame);
    for (const socket of this.#eventWatchers) socket.send(frame);
    if (isTerminalState(state)) {
      task.watchers.clear();
      if (task.doneWaiters.size > 0) {
        const done = this.#frame("task.done", { taskId, record: task.record });
        for (const socket of task.doneWaiters) socket.send(done);
        task.doneWaiters.clear();
      }
    }
  }

  /** Appends output to a task (next seq) and pushes it to its watchers. */
  output(taskId: string, stream: "stdout" | "stderr", data: string): number {
    const task = this.#need(taskId);
    if (task.record.epoch !== task.outputEpoch) {
      task.outputEpoch = task.record.epoch;
      task.nextSeq = 0;
    }
    const seq = task.nextSeq;
    task.nextSeq += 1;
    const frame = this.#frame("task.output", { taskId, epoch: task.record.epoch, stream, seq, data });
    task.timeline.push({ kind: "output", seq, frame });
    for (const socket of task.watchers) socket.send(frame);
    return seq;
  }

  /** Pushes any message to clients that called `events.watch`. */
  pushFleetEvent<T extends MessageType>(type: T, fields: MessageFields<T>): void {
    const frame = this.#frame(type, fields);
    for (const socket of this.#eventWatchers) socket.send(frame);
  }

  /** Terminates every client socket abruptly (as a network failure would). */
  dropClients(): void {
    for (const socket of this.#sockets) socket.terminate();
  }

  /** Stops listening and drops every client; tasks are kept. */
  async stop(): Promise<void> {
    this.dropClients();
    this.#sockets.clear();
    this.#eventWatchers.clear();
    for (const task of this.#tasks.values()) {
      task.watchers.clear();
      task.doneWaiters.clear();
    }
    const server = this.#server;
    this.#server = undefined;
    this.#wss?.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Starts listening again on the same port. */
  async listen(): Promise<void> {
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer((_request, response) => {
      response.writeHead(404).end();
    });
    server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!request.url?.startsWith("/v1/client")) {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
        return;
      }
      const token = this.#options.token;
      if (token !== undefined && request.headers.authorization !== `Bearer ${token}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
    this.#wss = wss;
  }

  /** Stops, kills processes started by {@link localRunner}. */
  async close(): Promise<void> {
    for (const task of this.#tasks.values()) {
      if (task.process?.pid !== undefined && task.process.exitCode === null)
        killGroup(task.process, "SIGKILL");
    }
    await this.stop();
  }

  #accept(socket: WebSocket): void {
    this.#sockets.add(socket);
    socket.on("close", () => {
      this.#sockets.delete(socket);
      this.#eventWatchers.delete(socket);
      // As the coordinator does, a `wait` promise lapses with the connection it was made on.
      for (const task of this.#tasks.values()) {
        task.watchers.delete(socket);
        task.doneWaiters.delete(socket);
      }
    });
    socket.on("message", (data) => {
      const decoded = decode(String(data));
      if (!decoded.ok) {
        socket.send(this.#frame("error", decoded.error.toJSON()));
        return;
      }
      const message = decoded.message;
      this.received.push(message);
      if (this.#options.intercept?.(message, socket, this)) return;
      this.#handle(message, socket);
    });
  }

  #handle(message: Message, socket: WebSocket): void {
    const replyTo = message.id ?? "";
    const reply = (result: unknown): void => {
      socket.send(this.#frame("reply", { replyTo, result }));
    };
    const fail = (code: string, text: string): void => {
      socket.send(this.#frame("error", { replyTo, code, message: text }));
    };
    const taskId = "taskId" in message && typeof message.taskId === "string" ? message.taskId : "";
    const known = this.#tasks.get(taskId);
    switch (message.type) {
      case "task.submit": {
        const spec = message.spec;
        const key = spec.idempotencyKey;
        const existing = key === undefined ? undefined : this.#byIdempotencyKey.get(key);
        const record = existing?.record ?? this.addTask(spec, "accepted");
        socket.send(
          this.#frame("task.accepted", {
            replyTo,
            taskId: record.id,
            duplicate: existing !== undefined,
            state: record.state,
            ...(message.wait === true && this.#options.ignoreWait !== true ? { waiting: true } : {}),
          }),
        );
        if (message.wait === true && this.#options.ignoreWait !== true) {
          // A duplicate that already ended is answered at once; otherwise when it ends.
          if (isTerminalState(record.state)) {
            socket.send(this.#frame("task.done", { taskId: record.id, record }));
          } else {
            this.#need(record.id).doneWaiters.add(socket);
          }
        }
        if (!existing) this.#options.runner?.(record, this);
        return;
      }
      case "task.get":
        if (known) reply(known.record);
        else fail("E_NOT_FOUND", `no task ${taskId}`);
        return;
      case "tasks.list":
        reply({
          tasks: this.tasks().filter(
            (task) =>
              message.type === "tasks.list" &&
              (message.state === undefined || task.state === message.state) &&
              (message.node === undefined || task.node === message.node),
          ),
        });
        return;
      case "nodes.list":
        reply({ nodes: this.nodes });
        return;
      case "task.cancel":
        if (!known) fail("E_NOT_FOUND", `no task ${taskId}`);
        else if (isTerminalState(known.record.state)) fail("E_CONFLICT", `task ${taskId} already finished`);
        else {
          reply({ ok: true });
          if (known.process?.pid !== undefined) killGroup(known.process, "SIGTERM");
          else this.setState(taskId, "cancelled");
        }
        return;
      case "task.watch": {
        if (!known) {
          fail("E_NOT_FOUND", `no task ${taskId}`);
          return;
        }
        reply({ ok: true });
        const fromSeq = message.type === "task.watch" ? (message.fromSeq ?? 0) : 0;
        let last: string | undefined;
        for (const entry of known.timeline) {
          if (entry.kind === "output" && entry.seq < fromSeq) continue;
          socket.send(entry.frame);
          if (entry.kind === "output") last = entry.frame;
        }
        // The real coordinator may send a chunk twice around the replay/live switch; so does this one.
        if (last && !isTerminalState(known.record.state)) socket.send(last);
        if (!isTerminalState(known.record.state)) known.watchers.add(socket);
        return;
      }
      case "task.unwatch":
        known?.watchers.delete(socket);
        reply({ ok: true });
        return;
      case "events.watch":
        this.#eventWatchers.add(socket);
        reply({ ok: true });
        return;
      case "node.drain":
      case "node.undrain": {
        const nodeId = message.nodeId;
        const node = this.nodes.find((candidate) => candidate.id === nodeId);
        if (!node) {
          fail("E_NOT_FOUND", `no node ${nodeId}`);
          return;
        }
        node.draining = message.type === "node.drain";
        reply(node);
        return;
      }
      case "broadcast":
        this.pushFleetEvent("broadcast", { message: message.message, data: message.data });
        reply({ ok: true });
        return;
      case "dlq.list":
        reply({ entries: this.dlq });
        return;
      case "dlq.get":
      case "dlq.retry": {
        const entry = this.dlq.find((candidate) => candidate.taskId === taskId);
        if (!entry) {
          fail("E_NOT_FOUND", `no dead-lettered task ${taskId}`);
          return;
        }
        if (message.type === "dlq.retry") {
          this.dlq = this.dlq.filter((candidate) => candidate !== entry);
          if (known) this.setState(taskId, "queued");
        }
        reply({ ...entry, task: known?.record });
        return;
      }
      case "dlq.purge": {
        const before = this.dlq.length;
        this.dlq = taskId === "" ? [] : this.dlq.filter((entry) => entry.taskId !== taskId);
        reply({ ok: true, purged: before - this.dlq.length });
        return;
      }
      default:
        fail("E_UNKNOWN_TYPE", `unknown request ${message.type}`);
    }
  }

  #need(taskId: string): FakeTask {
    const task = this.#tasks.get(taskId);
    if (!task) throw new Error(`fake coordinator: no task ${taskId}`);
    return task;
  }

  /** Builds and validates an outgoing frame, so the double never sends what the contract forbids. */
  #frame<T extends MessageType>(type: T, fields: MessageFields<T>): string {
    this.#messageCount += 1;
    const id = `coordinator-${this.#messageCount}-${randomUUID().slice(0, 8)}`;
    return JSON.stringify(createMessage(type, fields, { from: "coordinator", id, now: this.#clock }));
  }

  /** @internal used by {@link localRunner}. */
  attachProcess(taskId: string, child: ChildProcess): void {
    this.#need(taskId).process = child;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * A runner that executes `exec` tasks on this machine in their own process group and streams their
 * output, so a client sees what it would see from a real node. Cancel stops the whole group.
 */
export function localRunner(task: TaskRecord, fake: FakeCoordinator): void {
  const spec = task.spec;
  if (spec.kind !== "exec") {
    fake.setState(task.id, "failed", { error: { code: "E_HANDLER", message: "no handlers here" } });
    return;
  }
  fake.setState(task.id, "queued");
  const argv = spec.argv ?? ["/bin/sh", "-c", spec.shell ?? "true"];
  const [command, ...args] = argv;
  const started = Date.now();
  const child = spawn(command ?? "true", args, {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...spec.env },
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  });
  fake.attachProcess(task.id, child);
  fake.setState(task.id, "running", { node: "fake-node", startedAt: started });
  child.on("error", (error) => {
    fake.setState(task.id, "failed", {
      exitCode: null,
      signal: null,
      error: { code: "E_SPAWN", message: error.message },
    });
  });
  child.stdout?.on("data", (data: Buffer) => fake.output(task.id, "stdout", data.toString("utf8")));
  child.stderr?.on("data", (data: Buffer) => fake.output(task.id, "stderr", data.toString("utf8")));
  child.on("close", (code, signal) => {
    const current = fake.task(task.id);
    if (current === undefined || isTerminalState(current.state)) return;
    const state: TaskState = signal === "SIGTERM" ? "cancelled" : code === 0 ? "succeeded" : "failed";
    fake.setState(task.id, state, {
      exitCode: code,
      signal,
      durationMs: Date.now() - started,
      finishedAt: Date.now(),
    });
  });
}
