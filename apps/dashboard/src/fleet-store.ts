/**
 * The page's picture of the fleet, kept live over the coordinator's WebSocket with `@flotilla/client`:
 * nodes (polled each second: health, load, breaker), tasks (the recent ones listed, then every task event
 * applied as it comes), the dead-letter queue, fleet events, broadcasts, alerts (listed, then followed by
 * their `alert.fired`/`alert.resolved` events) and the coordinator's history for the charts (the last 15
 * minutes, read again each sample interval, so a reload shows them too). Views read it; every change goes
 * through one {@link RenderBatch}, so renders follow events at a bounded rate.
 */
import {
  type Alert,
  alertChange,
  browserSocket,
  connect,
  type DlqEntry,
  type FleetHistory,
  type FlotillaClient,
  type NodeView,
} from "@flotilla/client";
import type { Message, TaskRecord } from "@flotilla/protocol";
import { RenderBatch } from "./batch.js";
import { type NodeCharts, nodeSeries } from "./history.js";
import type { Identity } from "./session.js";

/** A task as the lists show it: a full record when one was read, else what its events said. */
export interface TaskRow {
  id: string;
  state: string;
  node?: string | undefined;
  submitter?: string | undefined;
  priority?: string | undefined;
  command: string;
  createdAt: number;
  updatedAt: number;
  waitingReason?: string | undefined;
}

/** One fleet event or broadcast, as the events view lists it. */
export interface FeedEntry {
  seq: number;
  at: number;
  type: string;
  node?: string | undefined;
  text: string;
}

const MAX_TASKS = 5000;
const MAX_FEED = 300;

export class FleetStore {
  readonly batch = new RenderBatch();
  client: FlotillaClient | undefined;
  connected = false;
  error: string | undefined;
  nodes: NodeView[] = [];
  /** Each node's latest listing, for the figures that change with every heartbeat (load, heartbeat age). */
  live = new Map<string, NodeView>();
  /**
   * Per node, a number that changes only when the figures its card shows (slots, queue, load, memory)
   * change, so a card's figures redraw when its own node changed, not at every listing. Heartbeat ages
   * are not among them: they tick with the clock, and the nodes view rewrites them in place once a second.
   */
  readonly liveVersions = new Map<string, number>();
  /** Changes with each history read: the charts of every card are new then. */
  chartsVersion = 0;
  readonly #figures = new Map<string, string>();
  readonly tasks = new Map<string, TaskRow>();
  dlq: DlqEntry[] = [];
  readonly feed: FeedEntry[] = [];
  readonly broadcasts: FeedEntry[] = [];
  /** Changes whenever a task row changed (an event applied, a listing read). */
  tasksVersion = 0;
  /** Changes with every `project.updated` event: the projects list reads again when it does. */
  projectsVersion = 0;
  /** Per project, a number that changes with each of its `project.updated` events. */
  readonly projectVersions = new Map<string, number>();
  /** Firing alerts by id. */
  readonly alerts = new Map<string, Alert>();
  /** The coordinator's samples, oldest first (empty until the first read, or from a coordinator without). */
  history: FleetHistory = { intervalMs: 10_000, samples: [] };
  /** Each node's chart data from `history`, made once per history read (so charts redraw only then). */
  readonly nodeCharts = new Map<string, NodeCharts>();
  /** When the first picture of the fleet was in place (ms since the page started). */
  firstRenderAt: number | undefined;
  #seq = 0;
  #timers: number[] = [];

  constructor(readonly identity: Identity) {}

  async start(url: string): Promise<void> {
    const client = await connect({
      url,
      token: this.identity.token,
      WebSocket: browserSocket,
      reconnect: { giveUpAfterMs: 24 * 3600_000 },
    });
    this.client = client;
    this.connected = true;
    void this.#follow(client);
    // The nodes first: they are the first picture; the rest follows.
    await this.refreshNodes();
    await Promise.all([this.refreshTasks(), this.refreshDlq(), this.refreshAlerts(), this.refreshHistory()]);
    this.#timers.push(
      window.setInterval(() => void this.refreshNodes(), 1000),
      window.setInterval(() => void this.refreshTasks(), 5000),
      window.setInterval(() => void this.refreshDlq(), 5000),
      window.setInterval(() => void this.refreshHistory(), Math.max(2000, this.history.intervalMs)),
    );
    this.batch.mark();
  }

  stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.client?.close();
  }

  async refreshNodes(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const fresh = (await client.nodes()).sort((a, b) => a.id.localeCompare(b.id));
      // A node whose listing changed only in its live figures keeps its object, so its card (memoised on
      // it) is not drawn again: with 200 nodes that is most of a render. The figures are read from `live`.
      const before = new Map(this.nodes.map((node) => [node.id, node]));
      const nodes = fresh.map((node) => {
        const old = before.get(node.id);
        return old !== undefined && shape(old) === shape(node) ? old : node;
      });
      // The same cards in the same order keep the same list, so the nodes view is not drawn again.
      const same = nodes.length === this.nodes.length && nodes.every((node, i) => node === this.nodes[i]);
      if (!same) this.nodes = nodes;
      this.live = new Map(fresh.map((node) => [node.id, node]));
      for (const node of fresh) {
        const figures = figuresOf(node);
        if (this.#figures.get(node.id) === figures) continue;
        this.#figures.set(node.id, figures);
        this.liveVersions.set(node.id, (this.liveVersions.get(node.id) ?? 0) + 1);
      }
      this.connected = true;
      this.error = undefined;
    } catch (error) {
      this.connected = client.connected;
      this.error = String((error as Error).message ?? error);
    }
    this.batch.mark();
  }

  async refreshTasks(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const [recent, running] = await Promise.all([
        client.tasks({ limit: 1000 }),
        client.tasks({ state: "running", limit: 1000 }),
      ]);
      for (const record of [...running, ...recent]) this.#putRecord(record);
      this.tasksVersion += 1;
      this.#trim();
      this.firstRenderAt ??= performance.now();
      this.batch.mark();
    } catch {
      // The next refresh tries again; the connection state is shown from the node poll.
    }
  }

  async refreshDlq(): Promise<void> {
    try {
      if (this.client) this.dlq = await this.client.dlq.list();
      this.batch.mark();
    } catch {
      // As above.
    }
  }

  /** A node's chart data, or undefined while the history has fewer than two samples. */
  chartsOf(nodeId: string): NodeCharts | undefined {
    if (this.history.samples.length < 2) return undefined;
    let charts = this.nodeCharts.get(nodeId);
    if (!charts) {
      charts = nodeSeries(this.history, nodeId);
      this.nodeCharts.set(nodeId, charts);
    }
    return charts;
  }

  /** The full record of one task (spec secrets masked by the coordinator). */
  async task(id: string): Promise<TaskRecord> {
    if (!this.client) throw new Error("not connected");
    const record = await this.client.task(id);
    this.#putRecord(record);
    return record;
  }

  async refreshAlerts(): Promise<void> {
    try {
      const firing = (await this.client?.alerts({ firingOnly: true })) ?? [];
      this.alerts.clear();
      for (const alert of firing) this.alerts.set(alert.id, alert);
      this.batch.mark();
    } catch {
      // A coordinator without alerts refuses the frame: the view then lists none.
    }
  }

  async refreshHistory(): Promise<void> {
    try {
      if (!this.client) return;
      this.history = await this.client.history({ minutes: 15 });
      this.nodeCharts.clear();
      this.chartsVersion += 1;
      this.batch.mark();
    } catch {
      // As above: no charts from a coordinator that keeps no history.
    }
  }

  async #follow(client: FlotillaClient): Promise<void> {
    for await (const message of client.events()) this.#apply(message);
  }

  #apply(message: Message): void {
    if (message.type === "task.event") {
      this.tasksVersion += 1;
      const row = this.tasks.get(message.taskId);
      if (row) {
        row.state = message.state;
        row.node = message.node ?? row.node;
        row.updatedAt = message.at;
        if (message.state !== "waiting") row.waitingReason = undefined;
        else if (message.reason) row.waitingReason = message.reason;
      } else {
        this.tasks.set(message.taskId, {
          id: message.taskId,
          state: message.state,
          node: message.node,
          command: "",
          createdAt: message.at,
          updatedAt: message.at,
          waitingReason: message.state === "waiting" ? message.reason : undefined,
        });
        if (this.tasks.size > MAX_TASKS * 1.2) this.#trim();
      }
    } else if (message.type === "broadcast") {
      const data = message.data as Record<string, unknown> | undefined;
      const fromCoordinator =
        data !== undefined && data.from === "coordinator" && typeof data.type === "string";
      this.#seq += 1;
      const entry: FeedEntry = {
        seq: this.#seq,
        at: Date.now(),
        type: fromCoordinator ? String(data.type) : "broadcast",
        node: fromCoordinator && typeof data.node === "string" ? data.node : undefined,
        text: fromCoordinator ? describe(data) : message.message,
      };
      if (!fromCoordinator) pushBounded(this.broadcasts, entry);
      pushBounded(this.feed, entry);
      const change = alertChange(message);
      if (change?.type === "alert.fired") this.alerts.set(change.alert.id, change.alert);
      if (change?.type === "alert.resolved") this.alerts.delete(change.alert.id);
      if (change) entry.text = change.alert.message;
      if (entry.type.startsWith("node.")) void this.refreshNodes();
      if (entry.type === "project.updated" && typeof data?.projectId === "string") {
        this.projectsVersion += 1;
        this.projectVersions.set(data.projectId, (this.projectVersions.get(data.projectId) ?? 0) + 1);
      }
    } else {
      return;
    }
    this.batch.mark();
  }

  #putRecord(record: TaskRecord): void {
    const spec = record.spec;
    this.tasks.set(record.id, {
      id: record.id,
      state: record.state,
      node: record.node,
      submitter: spec.submitter,
      priority: spec.priority,
      command: commandOf(record),
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      waitingReason: record.state === "waiting" ? record.waitingReason : undefined,
    });
  }

  /** Keeps the newest `MAX_TASKS` (running ones always). */
  #trim(): void {
    if (this.tasks.size <= MAX_TASKS) return;
    const oldest = [...this.tasks.values()]
      .filter((task) => task.state !== "running")
      .sort((a, b) => a.updatedAt - b.updatedAt);
    for (const task of oldest.slice(0, this.tasks.size - MAX_TASKS)) this.tasks.delete(task.id);
  }
}

/** A node's listing without the figures every heartbeat changes (slots in use, queue, load, heartbeat). */
function shape(node: NodeView): string {
  const {
    load1: _load,
    lastHeartbeatAt: _heartbeat,
    memoryFreeBytes: _free,
    stats: _stats,
    slotsUsed: _used,
    queued: _queued,
    ...rest
  } = node;
  // Whether it is busy is part of the card's look, so a change of it draws the card again.
  return JSON.stringify({ ...rest, busy: node.slotsTotal > 0 && node.slotsUsed >= node.slotsTotal });
}

/** The figures a node's card shows that change with its heartbeats, as drawn. */
function figuresOf(node: NodeView): string {
  return `${node.slotsUsed}/${node.slotsTotal}/${node.queued}/${node.load1.toFixed(2)}/${node.memoryBytes ?? 0}`;
}

/** The command a task runs, in one line. */
export function commandOf(record: TaskRecord): string {
  const spec = record.spec;
  if (spec.kind === "call") return `call ${spec.handler}`;
  return spec.shell ?? (spec.argv ?? []).join(" ");
}

/** A fleet event's fields other than the envelope, in a line. */
function describe(data: Record<string, unknown>): string {
  return Object.entries(data)
    .filter(([key]) => !["from", "type", "timestamp"].includes(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
}

function pushBounded(list: FeedEntry[], entry: FeedEntry): void {
  list.unshift(entry);
  if (list.length > MAX_FEED) list.length = MAX_FEED;
}
