import type { MessageType } from "./messages.js";
import { type PROJECT_MESSAGE_SCHEMAS, PROJECT_MESSAGE_SUMMARIES } from "./project-messages.js";

/** Who sends or receives a message. `bridge` is any other program on the shared Redis. */
export type Party = "agent" | "coordinator" | "client" | "bridge";

/** What a message is for and who sends it to whom. */
export interface MessageInfo {
  /** The senders that may emit it. */
  readonly from: readonly Party[];
  /** The receivers it goes to. */
  readonly to: readonly Party[];
  /** One line for people (README, JSON Schema `description`). */
  readonly summary: string;
}

/** The project requests: every one from a client to the coordinator. */
function projectCatalog(): Record<keyof typeof PROJECT_MESSAGE_SCHEMAS, MessageInfo> {
  const entries = Object.entries(PROJECT_MESSAGE_SUMMARIES).map(([type, summary]) => [
    type,
    { from: ["client"], to: ["coordinator"], summary } satisfies MessageInfo,
  ]);
  return Object.fromEntries(entries) as Record<keyof typeof PROJECT_MESSAGE_SCHEMAS, MessageInfo>;
}

/**
 * Every message type's direction and purpose: the source of the README table and the JSON Schema
 * descriptions, and what a receiver can use to refuse a frame from the wrong kind of peer.
 */
export const MESSAGE_CATALOG = {
  "agent.hello": {
    from: ["agent"],
    to: ["coordinator"],
    summary:
      "First frame of an agent connection: the node, the runs it still holds, the handlers it serves, how many assignments it holds ahead.",
  },
  "agent.welcome": {
    from: ["coordinator"],
    to: ["agent"],
    summary: "Answer to agent.hello: heartbeat timing, runs to keep (lease still valid) and runs to kill.",
  },
  heartbeat: {
    from: ["agent", "bridge"],
    to: ["coordinator", "bridge"],
    summary: "Liveness, status and load; the legacy format of other bridges (no id, no load) is accepted.",
  },
  "agent.bye": { from: ["agent"], to: ["coordinator"], summary: "Clean goodbye before disconnecting." },
  "discovery.announce": {
    from: ["agent", "bridge"],
    to: ["bridge", "coordinator"],
    summary: "A node tells the fleet it exists.",
  },
  "discovery.query": {
    from: ["client", "bridge"],
    to: ["agent", "bridge", "coordinator"],
    summary: "Who is out there, optionally with these capabilities?",
  },
  "discovery.response": {
    from: ["agent", "coordinator", "bridge"],
    to: ["client", "bridge"],
    summary: "Answer to discovery.query.",
  },
  broadcast: {
    from: ["coordinator", "client", "bridge"],
    to: ["agent", "bridge"],
    summary: "A message to every node.",
  },
  direct: {
    from: ["coordinator", "client", "bridge"],
    to: ["agent", "bridge"],
    summary: "A message to one node.",
  },
  "task.submit": { from: ["client"], to: ["coordinator"], summary: "Run this task spec." },
  "task.submitMany": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Run these task specs (one round trip, one script call); each validated on its own.",
  },
  "task.accepted": {
    from: ["coordinator"],
    to: ["client"],
    summary: "The task is persisted (duplicate: the idempotency key matched an earlier task).",
  },
  "task.assign": { from: ["coordinator"], to: ["agent"], summary: "Run this task under lease epoch N." },
  "task.accept": {
    from: ["agent"],
    to: ["coordinator"],
    summary: "The run started (how long ago, when the agent held the accept back).",
  },
  "task.reject": { from: ["agent"], to: ["coordinator"], summary: "The agent will not run the assignment." },
  "task.output": {
    from: ["agent", "coordinator"],
    to: ["coordinator", "client"],
    summary: "A chunk of stdout or stderr; seq orders chunks across both streams.",
  },
  "task.progress": {
    from: ["agent", "coordinator"],
    to: ["coordinator", "client"],
    summary: "How far along the task says it is.",
  },
  "task.finish": {
    from: ["agent"],
    to: ["coordinator"],
    summary: "The run ended: outcome, exit code, usage.",
  },
  "task.cancel": {
    from: ["client", "coordinator"],
    to: ["coordinator", "agent"],
    summary: "Stop the task (the coordinator adds the epoch when forwarding to the agent).",
  },
  "task.event": {
    from: ["coordinator"],
    to: ["client", "bridge"],
    summary: "The task changed state (also published on events:tasks:updates).",
  },
  "task.done": {
    from: ["coordinator"],
    to: ["client"],
    summary: "A task submitted with wait on this connection ended: its final record.",
  },
  "steal.request": { from: ["agent"], to: ["coordinator"], summary: "The agent is idle and can take work." },
  "steal.grant": { from: ["coordinator"], to: ["agent"], summary: "These tasks moved to your queue." },
  "node.drain": { from: ["client"], to: ["coordinator"], summary: "Take no new work on this node." },
  "node.undrain": { from: ["client"], to: ["coordinator"], summary: "The node takes work again." },
  error: {
    from: ["coordinator", "agent", "client"],
    to: ["coordinator", "agent", "client"],
    summary: "A request failed or a frame could not be read; replyTo names the request.",
  },
  "task.watch": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Stream the task's events and output (from seq fromSeq on).",
  },
  "task.unwatch": { from: ["client"], to: ["coordinator"], summary: "Stop streaming the task." },
  "task.get": { from: ["client"], to: ["coordinator"], summary: "Read one task record." },
  "task.events": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Read the task's stored state changes, oldest first.",
  },
  "tasks.list": {
    from: ["client"],
    to: ["coordinator"],
    summary: "List tasks, optionally by state or node.",
  },
  "nodes.list": { from: ["client"], to: ["coordinator"], summary: "List nodes." },
  "events.watch": { from: ["client"], to: ["coordinator"], summary: "Stream every task event of the fleet." },
  "dlq.list": { from: ["client"], to: ["coordinator"], summary: "List dead-lettered tasks." },
  "dlq.get": { from: ["client"], to: ["coordinator"], summary: "Read one dead-lettered task." },
  "dlq.retry": { from: ["client"], to: ["coordinator"], summary: "Queue a dead-lettered task again." },
  "dlq.purge": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Drop one dead-lettered task, or all without taskId.",
  },
  "alerts.list": {
    from: ["client"],
    to: ["coordinator"],
    summary: "List firing alerts (with all: also recently resolved ones).",
  },
  "history.get": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Read the fleet's recent history of load, queues and throughput, for charts.",
  },
  reply: {
    from: ["coordinator"],
    to: ["client"],
    summary: "The successful answer to a request; replyTo names it.",
  },
  "topic.publish": {
    from: ["client", "agent"],
    to: ["coordinator"],
    summary: "Publish on a named topic: live on agents:topic:{name} and kept in its bounded stream.",
  },
  "topic.read": {
    from: ["client", "agent"],
    to: ["coordinator"],
    summary: "Read a topic's kept messages after a seq.",
  },
  "inbox.read": {
    from: ["client", "agent"],
    to: ["coordinator"],
    summary: "Read an agent's kept inbox, with the kept broadcasts, after a seq.",
  },
  "output.read": {
    from: ["client"],
    to: ["coordinator"],
    summary: "Read a task's stored output: from an output seq, or its last chunks.",
  },
  ...projectCatalog(),
} as const satisfies Record<MessageType, MessageInfo>;
