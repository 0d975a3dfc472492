import { z } from "zod";
import { MAX_HISTORY_MINUTES } from "./alerts.js";
import { type ENVELOPE_KEYS, envelopeShape, message } from "./envelope.js";
import {
  InboxReadMessageSchema,
  OutputReadMessageSchema,
  TopicPublishMessageSchema,
  TopicReadMessageSchema,
} from "./kept.js";
import {
  NodeInfoSchema,
  NodeLoadSchema,
  NodeStatusSchema,
  NodeSummarySchema,
  RunRefSchema,
  UsageSchema,
} from "./node.js";
import {
  CapabilitySchema,
  DurationMsSchema,
  EpochSchema,
  IdSchema,
  MessageIdSchema,
  SenderSchema,
} from "./primitives.js";
import { PROJECT_MESSAGE_SCHEMAS } from "./project-messages.js";
import { TaskRecordSchema } from "./records.js";
import {
  ErrorCodeSchema,
  TaskOutcomeSchema,
  TaskSpecSchema,
  TaskStateSchema,
  taskEventShape,
  WireErrorSchema,
} from "./task.js";

export { ENVELOPE_KEYS, VersionSchema } from "./envelope.js";

const replyToSchema = MessageIdSchema;

// ---- Agent lifecycle and presence ----

/**
 * agent -> coordinator: first frame on a connection; `running` lists runs kept across a reconnect (started
 * or held). `prefetch` is how many assignments beyond its slots the agent holds, to start the moment a slot
 * frees up (absent = 0: never more than its slots).
 */
export const AgentHelloMessageSchema = message("agent.hello", {
  node: NodeInfoSchema,
  running: z.array(RunRefSchema),
  handlers: z.array(z.string().min(1).max(128)),
  prefetch: z.int().min(0).max(1024).optional(),
  /** The protocol version the agent speaks (absent: 1); see compatibility.ts. */
  protocol: z.int().min(1).optional(),
});
/** agent -> coordinator: first frame on a connection. */
export type AgentHelloMessage = z.infer<typeof AgentHelloMessageSchema>;

/** coordinator -> agent: answer to `agent.hello`, with the runs to keep (lease still valid) and to kill. */
export const AgentWelcomeMessageSchema = message("agent.welcome", {
  nodeId: IdSchema,
  heartbeatIntervalMs: z.int().min(1),
  deadAfterMs: z.int().min(1),
  keep: z.array(RunRefSchema),
  kill: z.array(RunRefSchema),
});
/** coordinator -> agent: answer to `agent.hello`. */
export type AgentWelcomeMessage = z.infer<typeof AgentWelcomeMessageSchema>;

/**
 * agent -> coordinator (and Redis): liveness and load. `from`, `type`, `timestamp`, `capabilities` and
 * `status` are the format other bridges already publish; those bridges send neither `id` nor `load`, so
 * both are optional here (and only here).
 */
export const HeartbeatMessageSchema = z.object({
  ...envelopeShape,
  id: MessageIdSchema.optional(),
  type: z.literal("heartbeat"),
  capabilities: z.array(CapabilitySchema),
  status: NodeStatusSchema,
  load: NodeLoadSchema.optional(),
  running: z.array(RunRefSchema).optional(),
});
/** Liveness and load. */
export type HeartbeatMessage = z.infer<typeof HeartbeatMessageSchema>;

/** agent -> coordinator: a clean goodbye (the coordinator need not wait for the failure detector). */
export const AgentByeMessageSchema = message("agent.bye", { reason: z.string().optional() });
/** agent -> coordinator: a clean goodbye. */
export type AgentByeMessage = z.infer<typeof AgentByeMessageSchema>;

/** A node tells the fleet it exists (Redis `agents:discovery:announce`). */
export const DiscoveryAnnounceMessageSchema = message("discovery.announce", { node: NodeSummarySchema });
/** A node tells the fleet it exists. */
export type DiscoveryAnnounceMessage = z.infer<typeof DiscoveryAnnounceMessageSchema>;

/** Who is out there (optionally: with these capabilities)? */
export const DiscoveryQueryMessageSchema = message("discovery.query", {
  want: z.object({ capabilities: z.array(CapabilitySchema).optional() }).optional(),
});
/** Who is out there? */
export type DiscoveryQueryMessage = z.infer<typeof DiscoveryQueryMessageSchema>;

/** The answer to a `discovery.query`. */
export const DiscoveryResponseMessageSchema = message("discovery.response", {
  replyTo: replyToSchema,
  nodes: z.array(NodeSummarySchema),
});
/** The answer to a `discovery.query`. */
export type DiscoveryResponseMessage = z.infer<typeof DiscoveryResponseMessageSchema>;

/** A message to every node (Redis `agents:general`). */
export const BroadcastMessageSchema = message("broadcast", {
  message: z.string(),
  data: z.unknown().optional(),
});
/** A message to every node. */
export type BroadcastMessage = z.infer<typeof BroadcastMessageSchema>;

/** A message to one node (Redis `agent:{id}:messages`). */
export const DirectMessageSchema = message("direct", {
  to: SenderSchema,
  message: z.string(),
  data: z.unknown().optional(),
});
/** A message to one node. */
export type DirectMessage = z.infer<typeof DirectMessageSchema>;

// ---- Tasks ----

/**
 * client -> coordinator: run this. Answered by `task.accepted` or `error`; with `wait`, the coordinator also
 * sends `task.done` on this connection when the task ends (no watch or lookup needed for the outcome).
 * `freshKey: true` says the sender made `spec.idempotencyKey` for this submit and this is its first send,
 * so no older task can hold the key: the coordinator may then start the run before Redis has answered
 * (a resend after a lost connection leaves it out).
 */
export const TaskSubmitMessageSchema = message("task.submit", {
  spec: TaskSpecSchema,
  wait: z.boolean().optional(),
  freshKey: z.boolean().optional(),
});
/** client -> coordinator: run this. */
export type TaskSubmitMessage = z.infer<typeof TaskSubmitMessageSchema>;

/** The most specs one `task.submitMany` carries: its one script call must not keep Redis busy for long. */
export const MAX_SUBMIT_BATCH = 1000;

/**
 * client -> coordinator: run these, in one round trip and one script call. Each spec is validated on its
 * own (hence `unknown` here): the `reply` lists, in order, each spec's task or its error; with
 * `allOrNothing`, one invalid spec refuses the whole frame (`E_SCHEMA`, every bad index in `details`)
 * and nothing is submitted.
 */
export const TaskSubmitManyMessageSchema = message("task.submitMany", {
  specs: z.array(z.unknown()).min(1).max(MAX_SUBMIT_BATCH),
  allOrNothing: z.boolean().optional(),
});
/** client -> coordinator: run these. */
export type TaskSubmitManyMessage = z.infer<typeof TaskSubmitManyMessageSchema>;

/** One spec's outcome in the reply to `task.submitMany`: its task, or why it was not submitted. */
export type SubmitManyOutcome =
  | { ok: true; taskId: string; duplicate: boolean; state: string }
  | { ok: false; code: string; message: string };

/** coordinator -> client: the task is persisted; `duplicate` when the idempotency key matched an earlier one. */
export const TaskAcceptedMessageSchema = message("task.accepted", {
  replyTo: replyToSchema,
  taskId: IdSchema,
  duplicate: z.boolean(),
  state: TaskStateSchema,
  /** True when the submit asked to `wait` and `task.done` will follow on this connection. */
  waiting: z.boolean().optional(),
});
/** coordinator -> client: the task is persisted. */
export type TaskAcceptedMessage = z.infer<typeof TaskAcceptedMessageSchema>;

/** coordinator -> agent: run this under lease `epoch`. */
export const TaskAssignMessageSchema = message("task.assign", {
  taskId: IdSchema,
  epoch: EpochSchema,
  attempt: z.int().min(1),
  spec: TaskSpecSchema,
  /**
   * The `seq` of this run's first output chunk: a task's output is numbered on across its attempts, so
   * a watcher that saw an earlier attempt orders and resumes by `seq` alone. Absent = 0.
   */
  seqFrom: z.int().min(0).optional(),
  /**
   * Set when the coordinator could not decrypt the task's `secretEnv` (its key file is missing or not
   * the one the task was sealed with): the spec then comes without it, and the agent fails the run
   * with this message instead of running the command without its secrets.
   */
  secretsError: z.string().optional(),
});
/** coordinator -> agent: run this under lease `epoch`. */
export type TaskAssignMessage = z.infer<typeof TaskAssignMessageSchema>;

/** agent -> coordinator: the agent took the assignment. */
/**
 * agent -> coordinator: the run started. `runningForMs` is how long it had been running when this was sent
 * (an agent may hold the accept back briefly, and a run that ends first sends only its finish); the
 * coordinator dates the start from it, free of clock skew. Absent = it started just now.
 */
export const TaskAcceptMessageSchema = message("task.accept", {
  taskId: IdSchema,
  epoch: EpochSchema,
  runningForMs: z.int().min(0).max(2_147_483_647).optional(),
});
/** agent -> coordinator: the run started. */
export type TaskAcceptMessage = z.infer<typeof TaskAcceptMessageSchema>;

/** agent -> coordinator: the agent will not run it (full, missing handler, draining…). */
export const TaskRejectMessageSchema = message("task.reject", {
  taskId: IdSchema,
  epoch: EpochSchema,
  reason: z.string(),
  code: ErrorCodeSchema,
});
/** agent -> coordinator: the agent will not run it. */
export type TaskRejectMessage = z.infer<typeof TaskRejectMessageSchema>;

/** The two output streams of a process. */
export const OUTPUT_STREAMS = ["stdout", "stderr"] as const;

/** agent -> coordinator -> watchers: a chunk of output; `seq` orders chunks across both streams. */
export const TaskOutputMessageSchema = message("task.output", {
  taskId: IdSchema,
  epoch: EpochSchema,
  stream: z.enum(OUTPUT_STREAMS),
  seq: z.int().min(0),
  data: z.string(),
});
/** A chunk of output. */
export type TaskOutputMessage = z.infer<typeof TaskOutputMessageSchema>;

/** agent -> coordinator -> watchers: how far along a task says it is. */
export const TaskProgressMessageSchema = message("task.progress", {
  taskId: IdSchema,
  epoch: EpochSchema,
  percent: z.number().min(0).max(100).optional(),
  message: z.string().optional(),
});
/** How far along a task says it is. */
export type TaskProgressMessage = z.infer<typeof TaskProgressMessageSchema>;

/** agent -> coordinator: the run ended. `result` carries a `call` handler's return value. */
export const TaskFinishMessageSchema = message("task.finish", {
  taskId: IdSchema,
  epoch: EpochSchema,
  outcome: TaskOutcomeSchema,
  exitCode: z.int().nullable(),
  signal: z.string().min(1).nullable(),
  durationMs: DurationMsSchema,
  usage: UsageSchema.optional(),
  result: z.unknown().optional(),
  error: WireErrorSchema.optional(),
});
/** agent -> coordinator: the run ended. */
export type TaskFinishMessage = z.infer<typeof TaskFinishMessageSchema>;

/** client -> coordinator -> agent: stop it. The coordinator adds `epoch` when it forwards to the agent. */
export const TaskCancelMessageSchema = message("task.cancel", {
  taskId: IdSchema,
  epoch: EpochSchema.optional(),
  reason: z.string().optional(),
});
/** Stop a task. */
export type TaskCancelMessage = z.infer<typeof TaskCancelMessageSchema>;

/** coordinator -> watchers (and `events:tasks:updates`): a task changed state. */
export const TaskEventMessageSchema = message("task.event", taskEventShape);
/** A task changed state. */
export type TaskEventMessage = z.infer<typeof TaskEventMessageSchema>;

/**
 * coordinator -> client: a task submitted with `wait` on this connection ended; `record` is its final
 * record (as `task.get` would return it).
 */
export const TaskDoneMessageSchema = message("task.done", {
  taskId: IdSchema,
  record: TaskRecordSchema,
});
/** coordinator -> client: a waited-for task ended. */
export type TaskDoneMessage = z.infer<typeof TaskDoneMessageSchema>;

/** agent -> coordinator: I am idle, give me work from a loaded node. */
export const StealRequestMessageSchema = message("steal.request", { freeSlots: z.int().min(1) });
/** agent -> coordinator: I am idle. */
export type StealRequestMessage = z.infer<typeof StealRequestMessageSchema>;

/** coordinator -> agent: these tasks moved to your queue from node `from`. */
export const StealGrantMessageSchema = message("steal.grant", {
  tasks: z.array(z.object({ taskId: IdSchema, from: IdSchema })),
});
/** coordinator -> agent: tasks moved to your queue. */
export type StealGrantMessage = z.infer<typeof StealGrantMessageSchema>;

/** client -> coordinator: take no new work on this node; running work finishes. */
export const NodeDrainMessageSchema = message("node.drain", { nodeId: IdSchema });
/** Stop placing work on a node. */
export type NodeDrainMessage = z.infer<typeof NodeDrainMessageSchema>;

/** client -> coordinator: the node takes work again. */
export const NodeUndrainMessageSchema = message("node.undrain", { nodeId: IdSchema });
/** The node takes work again. */
export type NodeUndrainMessage = z.infer<typeof NodeUndrainMessageSchema>;

/** Any direction: a request failed, or a frame could not be read. `replyTo` names the request. */
export const ErrorMessageSchema = message("error", {
  replyTo: replyToSchema.optional(),
  ...WireErrorSchema.shape,
});
/** A request failed. */
export type ErrorMessage = z.infer<typeof ErrorMessageSchema>;

// ---- Client requests (each answered by `reply` or `error` with replyTo = the request id) ----

/** Stream a task's events and output, output from `fromSeq` on (to resume after a reconnect). */
export const TaskWatchMessageSchema = message("task.watch", {
  taskId: IdSchema,
  fromSeq: z.int().min(0).optional(),
});
/** Stream a task's events and output. */
export type TaskWatchMessage = z.infer<typeof TaskWatchMessageSchema>;

/** Stop streaming a task. */
export const TaskUnwatchMessageSchema = message("task.unwatch", { taskId: IdSchema });
/** Stop streaming a task. */
export type TaskUnwatchMessage = z.infer<typeof TaskUnwatchMessageSchema>;

/** Read one task record. */
export const TaskGetMessageSchema = message("task.get", { taskId: IdSchema });
/** Read one task record. */
export type TaskGetMessage = z.infer<typeof TaskGetMessageSchema>;

/**
 * Read a task's stored state changes, oldest first (each as a `task.event` carries it: state, previous,
 * node, time, attempt). Answered by a `reply` whose result is `{ taskId, events }`.
 */
export const TaskEventsMessageSchema = message("task.events", { taskId: IdSchema });
/** Read a task's state changes. */
export type TaskEventsMessage = z.infer<typeof TaskEventsMessageSchema>;

/** The most tasks one `tasks.list` returns. */
export const MAX_LIST_LIMIT = 1000;

/** List tasks, newest first, optionally by state or node. */
export const TasksListMessageSchema = message("tasks.list", {
  state: TaskStateSchema.optional(),
  node: IdSchema.optional(),
  limit: z.int().min(1).max(MAX_LIST_LIMIT).optional(),
});
/** List tasks. */
export type TasksListMessage = z.infer<typeof TasksListMessageSchema>;

/** List nodes with their records. */
export const NodesListMessageSchema = message("nodes.list", {});
/** List nodes. */
export type NodesListMessage = z.infer<typeof NodesListMessageSchema>;

/** Stream every task event of the fleet (dashboards). */
export const EventsWatchMessageSchema = message("events.watch", {});
/** Stream every task event. */
export type EventsWatchMessage = z.infer<typeof EventsWatchMessageSchema>;

/** List dead-lettered tasks. */
export const DlqListMessageSchema = message("dlq.list", {});
/** List dead-lettered tasks. */
export type DlqListMessage = z.infer<typeof DlqListMessageSchema>;

/** Read one dead-lettered task. */
export const DlqGetMessageSchema = message("dlq.get", { taskId: IdSchema });
/** Read one dead-lettered task. */
export type DlqGetMessage = z.infer<typeof DlqGetMessageSchema>;

/** Queue a dead-lettered task again. */
export const DlqRetryMessageSchema = message("dlq.retry", { taskId: IdSchema });
/** Queue a dead-lettered task again. */
export type DlqRetryMessage = z.infer<typeof DlqRetryMessageSchema>;

/** Drop one dead-lettered task, or all of them when `taskId` is absent. */
export const DlqPurgeMessageSchema = message("dlq.purge", { taskId: IdSchema.optional() });
/** Drop dead-lettered tasks. */
export type DlqPurgeMessage = z.infer<typeof DlqPurgeMessageSchema>;

/**
 * The fleet's alerts: firing ones, and with `all` also those resolved recently. Answered by a `reply`
 * whose result is an `AlertList` (see `alerts.ts`).
 */
export const AlertsListMessageSchema = message("alerts.list", { all: z.boolean().optional() });
/** List alerts. */
export type AlertsListMessage = z.infer<typeof AlertsListMessageSchema>;

/**
 * The fleet's recent history for charts: the last `minutes` (default: all the coordinator keeps, 15 by
 * default). Answered by a `reply` whose result is a `FleetHistory` (see `alerts.ts`).
 */
export const HistoryGetMessageSchema = message("history.get", {
  minutes: z.int().min(1).max(MAX_HISTORY_MINUTES).optional(),
});
/** Read the fleet's recent history. */
export type HistoryGetMessage = z.infer<typeof HistoryGetMessageSchema>;

/** The successful answer to a request. */
export const ReplyMessageSchema = message("reply", { replyTo: replyToSchema, result: z.unknown() });
/** The successful answer to a request. */
export type ReplyMessage = z.infer<typeof ReplyMessageSchema>;

/** Every message schema by its `type`. */
export const MESSAGE_SCHEMAS = {
  "agent.hello": AgentHelloMessageSchema,
  "agent.welcome": AgentWelcomeMessageSchema,
  heartbeat: HeartbeatMessageSchema,
  "agent.bye": AgentByeMessageSchema,
  "discovery.announce": DiscoveryAnnounceMessageSchema,
  "discovery.query": DiscoveryQueryMessageSchema,
  "discovery.response": DiscoveryResponseMessageSchema,
  broadcast: BroadcastMessageSchema,
  direct: DirectMessageSchema,
  "task.submit": TaskSubmitMessageSchema,
  "task.submitMany": TaskSubmitManyMessageSchema,
  "task.accepted": TaskAcceptedMessageSchema,
  "task.assign": TaskAssignMessageSchema,
  "task.accept": TaskAcceptMessageSchema,
  "task.reject": TaskRejectMessageSchema,
  "task.output": TaskOutputMessageSchema,
  "task.progress": TaskProgressMessageSchema,
  "task.finish": TaskFinishMessageSchema,
  "task.cancel": TaskCancelMessageSchema,
  "task.event": TaskEventMessageSchema,
  "task.done": TaskDoneMessageSchema,
  "steal.request": StealRequestMessageSchema,
  "steal.grant": StealGrantMessageSchema,
  "node.drain": NodeDrainMessageSchema,
  "node.undrain": NodeUndrainMessageSchema,
  error: ErrorMessageSchema,
  "task.watch": TaskWatchMessageSchema,
  "task.unwatch": TaskUnwatchMessageSchema,
  "task.get": TaskGetMessageSchema,
  "task.events": TaskEventsMessageSchema,
  "tasks.list": TasksListMessageSchema,
  "nodes.list": NodesListMessageSchema,
  "events.watch": EventsWatchMessageSchema,
  "dlq.list": DlqListMessageSchema,
  "dlq.get": DlqGetMessageSchema,
  "dlq.retry": DlqRetryMessageSchema,
  "dlq.purge": DlqPurgeMessageSchema,
  "alerts.list": AlertsListMessageSchema,
  "history.get": HistoryGetMessageSchema,
  reply: ReplyMessageSchema,
  "topic.publish": TopicPublishMessageSchema,
  "topic.read": TopicReadMessageSchema,
  "inbox.read": InboxReadMessageSchema,
  "output.read": OutputReadMessageSchema,
  ...PROJECT_MESSAGE_SCHEMAS,
} as const;

/** A message `type` string. */
export type MessageType = keyof typeof MESSAGE_SCHEMAS;

/** Every message `type` string. */
export const MESSAGE_TYPES = Object.keys(MESSAGE_SCHEMAS) as readonly MessageType[];

const messageTypes: ReadonlySet<string> = new Set(MESSAGE_TYPES);
/** Whether `value` names a message type this package knows. */
export function isMessageType(value: unknown): value is MessageType {
  return typeof value === "string" && messageTypes.has(value);
}

type SchemaList = (typeof MESSAGE_SCHEMAS)[MessageType];

/** Any message, discriminated on `type`. */
export const MessageSchema = z.discriminatedUnion(
  "type",
  Object.values(MESSAGE_SCHEMAS) as unknown as [SchemaList, ...SchemaList[]],
);
/** Any message, discriminated on `type`. */
export type Message = z.infer<typeof MessageSchema>;

/** The message of one `type`, e.g. `MessageOf<"task.output">`. */
export type MessageOf<T extends MessageType> = z.output<(typeof MESSAGE_SCHEMAS)[T]>;

/** A message of one `type` as a sender writes it (defaults such as `v` or `spec.priority` may be left out). */
export type MessageInputOf<T extends MessageType> = z.input<(typeof MESSAGE_SCHEMAS)[T]>;

/** The fields of a message of one `type` without the envelope: what {@link createMessage} takes. */
export type MessageFields<T extends MessageType> = Omit<MessageInputOf<T>, (typeof ENVELOPE_KEYS)[number]>;
