/**
 * The test vectors, written as data. `pnpm gen:vectors` turns them into `vectors/**.json` (with the decoded
 * form of every valid frame filled in from the codec); a test checks the files match and decode as stated.
 */
import type { MessageType } from "../src/messages.js";

/** One vector as stored. See the README, "Test vectors". */
export interface VectorCase {
  /** Unique within its directory; also the file name. */
  name: string;
  /** The message type the vector exercises, or `"frame"` for checks that come before the type. */
  type: MessageType | "frame";
  /** The frame: a string is sent as is, an object is JSON-encoded first. */
  raw: string | Record<string, unknown> | unknown[];
  /** The size limit to decode with, when not the default 1 MiB. */
  maxBytes?: number;
  valid: boolean;
  /** For invalid vectors: the expected error code. */
  code?: string;
  /** For invalid vectors: the expected `details.path`. */
  path?: string;
}

const at = "2026-03-01T09:30:00.000Z";

function frame(type: string, fields: Record<string, unknown>, from = "linux1"): Record<string, unknown> {
  return { v: 1, type, id: `${type}-1`, timestamp: at, from, ...fields };
}

const fingerprint = {
  os: "darwin",
  distro: "macOS",
  release: "15.1",
  arch: "arm64",
  cpuModel: "Apple M3 Pro",
  cores: 12,
  performanceCores: 6,
  efficiencyCores: 6,
  memoryBytes: 38_654_705_664,
  freeDiskBytes: 412_316_860_416,
  docker: { available: false },
};
const node = {
  id: "mac1",
  host: "mac1.local",
  version: "0.1.0",
  fingerprint,
  labels: { owner: "ana" },
  capabilities: ["light", "macos"],
  slots: 4,
};
const summary = {
  id: "linux1",
  host: "linux1.lan",
  capabilities: ["docker", "linux", "heavy"],
  status: "ready",
};
const execSpec = { kind: "exec", argv: ["make", "-j16", "test"], cwd: "/src/app", needs: { heavy: true } };
const callSpec = { kind: "call", handler: "thumbnail.resize", payload: { width: 320 }, priority: "low" };

function valid(type: MessageType, name: string, fields: Record<string, unknown>, from?: string): VectorCase {
  return { name, type, raw: frame(type, fields, from), valid: true };
}

function invalid(
  type: MessageType,
  name: string,
  fields: Record<string, unknown>,
  path: string,
  code = "E_SCHEMA",
): VectorCase {
  return { name, type, raw: frame(type, fields), valid: false, code, path };
}

/** Every vector. Each message type has at least one valid and one invalid. */
export const VECTOR_CASES: VectorCase[] = [
  // Frame-level checks, before a type's schema is consulted.
  {
    name: "too-large",
    type: "frame",
    raw: frame("agent.bye", { reason: "x".repeat(200) }),
    maxBytes: 128,
    valid: false,
    code: "E_TOO_LARGE",
    path: "",
  },
  {
    name: "too-large-multibyte",
    type: "frame",
    raw: frame("agent.bye", { reason: "é".repeat(60) }),
    maxBytes: 200,
    valid: false,
    code: "E_TOO_LARGE",
    path: "",
  },
  {
    name: "bad-json",
    type: "frame",
    raw: '{"v":1,"type":"heartbeat",',
    valid: false,
    code: "E_BAD_JSON",
    path: "",
  },
  { name: "not-an-object", type: "frame", raw: [1, 2, 3], valid: false, code: "E_SCHEMA", path: "" },
  {
    name: "missing-type",
    type: "frame",
    raw: { v: 1, id: "m1", timestamp: at, from: "x" },
    valid: false,
    code: "E_SCHEMA",
    path: "type",
  },
  {
    name: "unknown-type",
    type: "frame",
    raw: frame("task.teleport", {}),
    valid: false,
    code: "E_UNKNOWN_TYPE",
    path: "type",
  },
  {
    name: "version-2",
    type: "frame",
    raw: { ...frame("heartbeat", { capabilities: [], status: "ready" }), v: 2 },
    valid: false,
    code: "E_VERSION",
    path: "v",
  },
  {
    name: "version-not-integer",
    type: "frame",
    raw: { ...frame("heartbeat", { capabilities: [], status: "ready" }), v: 1.5 },
    valid: false,
    code: "E_VERSION",
    path: "v",
  },
  {
    name: "version-string",
    type: "frame",
    raw: { ...frame("heartbeat", { capabilities: [], status: "ready" }), v: "1" },
    valid: false,
    code: "E_VERSION",
    path: "v",
  },
  {
    name: "bad-timestamp",
    type: "frame",
    raw: frame("agent.bye", { timestamp: "yesterday" }),
    valid: false,
    code: "E_SCHEMA",
    path: "timestamp",
  },
  {
    name: "missing-id",
    type: "frame",
    raw: { v: 1, type: "agent.bye", timestamp: at, from: "x" },
    valid: false,
    code: "E_SCHEMA",
    path: "id",
  },

  valid("agent.hello", "fresh", { node, running: [], handlers: ["thumbnail.resize"] }, "mac1"),
  valid(
    "agent.hello",
    "reconnect-with-runs",
    { node, running: [{ taskId: "t-41", epoch: 2 }], handlers: [] },
    "mac1",
  ),
  invalid(
    "agent.hello",
    "zero-slots",
    { node: { ...node, slots: 0 }, running: [], handlers: [] },
    "node.slots",
  ),
  invalid(
    "agent.hello",
    "bad-node-id",
    { node: { ...node, id: "mac 1" }, running: [], handlers: [] },
    "node.id",
  ),

  valid(
    "agent.welcome",
    "keep-and-kill",
    {
      nodeId: "mac1",
      heartbeatIntervalMs: 5000,
      deadAfterMs: 15000,
      keep: [{ taskId: "t-41", epoch: 2 }],
      kill: [{ taskId: "t-40", epoch: 1 }],
    },
    "coordinator",
  ),
  invalid(
    "agent.welcome",
    "fractional-interval",
    { nodeId: "mac1", heartbeatIntervalMs: 2.5, deadAfterMs: 15000, keep: [], kill: [] },
    "heartbeatIntervalMs",
  ),

  {
    name: "legacy-bridge",
    type: "heartbeat",
    raw: {
      from: "claude-mac",
      type: "heartbeat",
      timestamp: "2026-03-01T09:30:00.123456",
      capabilities: ["light"],
      status: "ready",
    },
    valid: true,
  },
  valid("heartbeat", "with-load", {
    capabilities: ["docker", "linux", "heavy"],
    status: "busy",
    load: {
      load1: 2.5,
      load5: 2.1,
      load15: 1.7,
      cpuPercent: 63.5,
      memoryFreeBytes: 8_589_934_592,
      slotsUsed: 3,
      slotsTotal: 8,
    },
    running: [{ taskId: "t-42", epoch: 1 }],
  }),
  invalid("heartbeat", "unknown-status", { capabilities: [], status: "sleeping" }, "status"),
  invalid(
    "heartbeat",
    "negative-load",
    {
      capabilities: [],
      status: "ready",
      load: { load1: -1, load5: 0, load15: 0, slotsUsed: 0, slotsTotal: 1 },
    },
    "load.load1",
  ),

  valid("agent.bye", "with-reason", { reason: "shutdown" }),
  valid("agent.bye", "bare", {}),
  invalid("agent.bye", "reason-not-string", { reason: 42 }, "reason"),

  valid("discovery.announce", "linux-box", { node: summary }),
  invalid("discovery.announce", "missing-status", { node: { ...summary, status: undefined } }, "node.status"),

  valid("discovery.query", "any", {}, "cli-ana"),
  valid("discovery.query", "docker", { want: { capabilities: ["docker"] } }, "cli-ana"),
  invalid(
    "discovery.query",
    "capabilities-not-list",
    { want: { capabilities: "docker" } },
    "want.capabilities",
  ),

  valid("discovery.response", "one-node", { replyTo: "discovery.query-1", nodes: [summary] }),
  invalid("discovery.response", "missing-reply-to", { nodes: [] }, "replyTo"),

  valid("broadcast", "with-data", { message: "config reloaded", data: { generation: 7 } }, "coordinator"),
  invalid("broadcast", "missing-message", { data: 1 }, "message"),

  valid("direct", "to-one", { to: "mac1", message: "ping" }, "coordinator"),
  invalid("direct", "empty-recipient", { to: "", message: "ping" }, "to"),

  valid("task.submit", "exec-argv", { spec: execSpec }, "cli-ana"),
  valid(
    "task.submit",
    "exec-shell-full",
    {
      spec: {
        kind: "exec",
        shell: "docker build -t app . && docker push app",
        env: { DOCKER_BUILDKIT: "1" },
        needs: { docker: true, os: "linux" },
        constraints: [
          { attr: "cores", op: "gte", value: 8 },
          { attr: "arch", op: "in", value: ["x64", "arm64"] },
          { attr: "gpu", op: "exists" },
        ],
        labels: { project: "app" },
        priority: "critical",
        deadlineAt: 1_772_400_000_000,
        timeoutMs: 1_800_000,
        retry: { maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 30000, retryOn: [75] },
        idempotencyKey: "build-app-1f2e3d",
        affinityKey: "app",
        submitter: "ana",
        group: "release",
        maxWaitMs: 600000,
        ttlMs: 3600000,
        node: "linux1",
        estimatedMs: 240000,
      },
    },
    "cli-ana",
  ),
  valid(
    "task.submitMany",
    "two-specs-one-bad",
    { specs: [callSpec, { kind: "exec" }], allOrNothing: false },
    "cli-ana",
  ),
  invalid("task.submitMany", "empty", { specs: [] }, "specs"),
  valid("task.submit", "call", { spec: callSpec }, "cli-ana"),
  valid("task.submit", "call-wait", { spec: callSpec, wait: true }, "cli-ana"),
  invalid("task.submit", "wait-not-boolean", { spec: callSpec, wait: "yes" }, "wait"),
  invalid(
    "task.submit",
    "nul-in-argv",
    { spec: { kind: "exec", argv: ["echo", "a\u0000b"] } },
    "spec.argv.1",
  ),
  invalid(
    "task.submit",
    "argv-and-shell",
    { spec: { kind: "exec", argv: ["ls"], shell: "ls" } },
    "spec.argv",
  ),
  invalid("task.submit", "neither-argv-nor-shell", { spec: { kind: "exec" } }, "spec.argv"),
  invalid("task.submit", "empty-argv", { spec: { kind: "exec", argv: [] } }, "spec.argv"),
  invalid(
    "task.submit",
    "timeout-over-7-days",
    { spec: { ...execSpec, timeoutMs: 604_800_001 } },
    "spec.timeoutMs",
  ),
  invalid("task.submit", "unknown-kind", { spec: { kind: "wasm" } }, "spec.kind"),
  invalid("task.submit", "unknown-priority", { spec: { ...execSpec, priority: "urgent" } }, "spec.priority"),
  invalid(
    "task.submit",
    "in-without-list",
    { spec: { ...execSpec, constraints: [{ attr: "os", op: "in", value: "linux" }] } },
    "spec.constraints.0.value",
  ),
  invalid(
    "task.submit",
    "too-many-attempts",
    { spec: { ...execSpec, retry: { maxAttempts: 101 } } },
    "spec.retry.maxAttempts",
  ),
  invalid(
    "task.submit",
    "env-name-with-equals",
    { spec: { ...execSpec, env: { "A=B": "1" } } },
    "spec.env.A=B",
  ),

  valid(
    "task.accepted",
    "new",
    { replyTo: "task.submit-1", taskId: "t-42", duplicate: false, state: "queued" },
    "coordinator",
  ),
  valid(
    "task.accepted",
    "waiting",
    { replyTo: "task.submit-2", taskId: "t-43", duplicate: false, state: "leased", waiting: true },
    "coordinator",
  ),
  invalid(
    "task.accepted",
    "unknown-state",
    { replyTo: "task.submit-1", taskId: "t-42", duplicate: false, state: "pending" },
    "state",
  ),

  valid("task.assign", "exec", { taskId: "t-42", epoch: 1, attempt: 1, spec: execSpec }, "coordinator"),
  invalid("task.assign", "epoch-zero", { taskId: "t-42", epoch: 0, attempt: 1, spec: execSpec }, "epoch"),

  valid("task.accept", "ok", { taskId: "t-42", epoch: 1 }),
  invalid("task.accept", "missing-epoch", { taskId: "t-42" }, "epoch"),

  valid("task.reject", "full", {
    taskId: "t-42",
    epoch: 1,
    reason: "all 8 slots busy",
    code: "E_QUEUE_FULL",
  }),
  valid("task.reject", "future-code", {
    taskId: "t-42",
    epoch: 1,
    reason: "quota",
    code: "E_FROM_A_NEWER_AGENT",
  }),
  invalid("task.reject", "missing-code", { taskId: "t-42", epoch: 1, reason: "full" }, "code"),

  valid("task.output", "stdout", {
    taskId: "t-42",
    epoch: 1,
    stream: "stdout",
    seq: 0,
    data: "compiling...\n",
  }),
  valid("task.output", "stderr-unicode", {
    taskId: "t-42",
    epoch: 1,
    stream: "stderr",
    seq: 7,
    data: "warning: ünïcødé ✓\n",
  }),
  invalid(
    "task.output",
    "unknown-stream",
    { taskId: "t-42", epoch: 1, stream: "stdin", seq: 0, data: "" },
    "stream",
  ),
  invalid(
    "task.output",
    "negative-seq",
    { taskId: "t-42", epoch: 1, stream: "stdout", seq: -1, data: "" },
    "seq",
  ),

  valid("task.progress", "half", { taskId: "t-42", epoch: 1, percent: 50, message: "linking" }),
  invalid("task.progress", "over-100", { taskId: "t-42", epoch: 1, percent: 120 }, "percent"),

  valid("task.finish", "succeeded", {
    taskId: "t-42",
    epoch: 1,
    outcome: "succeeded",
    exitCode: 0,
    signal: null,
    durationMs: 81234,
    usage: { userCpuMs: 300000, systemCpuMs: 20000, maxRssBytes: 1_073_741_824 },
  }),
  valid("task.finish", "killed", {
    taskId: "t-42",
    epoch: 1,
    outcome: "timed_out",
    exitCode: null,
    signal: "SIGKILL",
    durationMs: 1_800_000,
    error: { code: "E_TIMEOUT", message: "ran longer than 30m", retryable: false },
  }),
  valid("task.finish", "call-result", {
    taskId: "t-43",
    epoch: 1,
    outcome: "succeeded",
    exitCode: null,
    signal: null,
    durationMs: 12,
    result: { url: "s3://x" },
  }),
  invalid(
    "task.finish",
    "unknown-outcome",
    { taskId: "t-42", epoch: 1, outcome: "ok", exitCode: 0, signal: null, durationMs: 1 },
    "outcome",
  ),
  invalid(
    "task.finish",
    "missing-exit-code",
    { taskId: "t-42", epoch: 1, outcome: "failed", signal: null, durationMs: 1 },
    "exitCode",
  ),

  valid("task.cancel", "from-client", { taskId: "t-42", reason: "ctrl-c" }, "cli-ana"),
  valid("task.cancel", "to-agent", { taskId: "t-42", epoch: 3 }, "coordinator"),
  invalid("task.cancel", "bad-task-id", { taskId: "" }, "taskId"),

  valid(
    "task.event",
    "running",
    {
      taskId: "t-42",
      state: "running",
      previous: "leased",
      at: 1_772_357_400_000,
      node: "linux1",
      attempt: 1,
      epoch: 1,
    },
    "coordinator",
  ),
  invalid("task.event", "fractional-at", { taskId: "t-42", state: "running", at: 1.5, attempt: 1 }, "at"),

  valid(
    "task.done",
    "succeeded",
    {
      taskId: "t-42",
      record: {
        id: "t-42",
        spec: callSpec,
        state: "succeeded",
        attempt: 1,
        epoch: 1,
        node: "linux1",
        createdAt: 1_772_357_400_000,
        updatedAt: 1_772_357_400_004,
        finishedAt: 1_772_357_400_004,
        exitCode: null,
        signal: null,
        durationMs: 1,
        result: { width: 640 },
      },
    },
    "coordinator",
  ),
  invalid(
    "task.done",
    "missing-finished-at",
    {
      taskId: "t-42",
      record: {
        id: "t-42",
        spec: callSpec,
        state: "succeeded",
        attempt: 1,
        epoch: 1,
        createdAt: 1_772_357_400_000,
        updatedAt: 1_772_357_400_004,
      },
    },
    "record.finishedAt",
  ),

  valid("steal.request", "two", { freeSlots: 2 }),
  invalid("steal.request", "zero", { freeSlots: 0 }, "freeSlots"),

  valid("steal.grant", "one", { tasks: [{ taskId: "t-44", from: "linux1" }] }, "coordinator"),
  invalid("steal.grant", "missing-from", { tasks: [{ taskId: "t-44" }] }, "tasks.0.from"),

  valid("node.drain", "linux1", { nodeId: "linux1" }, "cli-ana"),
  invalid("node.drain", "missing-node", {}, "nodeId"),

  valid("node.undrain", "linux1", { nodeId: "linux1" }, "cli-ana"),
  invalid("node.undrain", "bad-node", { nodeId: "-linux" }, "nodeId"),

  valid(
    "error",
    "reply",
    {
      replyTo: "task.get-1",
      code: "E_NOT_FOUND",
      message: "no task t-99",
      retryable: false,
      details: { taskId: "t-99" },
    },
    "coordinator",
  ),
  valid("error", "unsolicited", { code: "E_BAD_JSON", message: "frame is not valid JSON" }, "coordinator"),
  invalid("error", "missing-message", { code: "E_INTERNAL" }, "message"),

  valid("task.watch", "from-seq", { taskId: "t-42", fromSeq: 120 }, "cli-ana"),
  invalid("task.watch", "negative-seq", { taskId: "t-42", fromSeq: -1 }, "fromSeq"),

  valid("task.unwatch", "ok", { taskId: "t-42" }, "cli-ana"),
  invalid("task.unwatch", "missing-task", {}, "taskId"),

  valid("task.get", "ok", { taskId: "t-42" }, "cli-ana"),
  invalid("task.get", "task-id-number", { taskId: 42 }, "taskId"),
  valid("task.events", "ok", { taskId: "t-42" }, "cli-ana"),
  invalid("task.events", "missing-task", {}, "taskId"),

  valid("tasks.list", "filtered", { state: "failed", node: "linux1", limit: 50 }, "cli-ana"),
  valid("tasks.list", "all", {}, "cli-ana"),
  invalid("tasks.list", "limit-too-big", { limit: 5000 }, "limit"),

  valid("nodes.list", "ok", {}, "cli-ana"),
  invalid("nodes.list", "bad-from", { from: "" }, "from"),

  valid("events.watch", "ok", {}, "dashboard"),
  invalid("events.watch", "bad-id", { id: "" }, "id"),

  valid("dlq.list", "ok", {}, "cli-ana"),
  invalid("dlq.list", "bad-timestamp", { timestamp: "2026-13-01T00:00:00Z" }, "timestamp"),

  valid("dlq.get", "ok", { taskId: "t-40" }, "cli-ana"),
  invalid("dlq.get", "missing-task", {}, "taskId"),

  valid("dlq.retry", "ok", { taskId: "t-40" }, "cli-ana"),
  invalid("dlq.retry", "bad-task", { taskId: "t 40" }, "taskId"),

  valid("dlq.purge", "one", { taskId: "t-40" }, "cli-ana"),
  valid("dlq.purge", "all", {}, "cli-ana"),
  invalid("dlq.purge", "bad-task", { taskId: "{t40}" }, "taskId"),
  valid(
    "topic.publish",
    "with-data",
    { topic: "builds", message: "main is green", data: { sha: "4cc2d3f" } },
    "mac-mini",
  ),
  invalid("topic.publish", "bad-topic", { topic: "{builds}", message: "x" }, "topic"),
  valid("topic.read", "since", { topic: "builds", since: "1733630000000-0", limit: 50 }, "mac-mini"),
  invalid("topic.read", "bad-since", { topic: "builds", since: "yesterday" }, "since"),
  valid("inbox.read", "from-start", { agentId: "mac-mini", since: "0" }, "mac-mini"),
  invalid("inbox.read", "no-agent", { since: "0" }, "agentId"),
  valid("output.read", "tail", { taskId: "t-40", tail: 20 }, "cli-ana"),
  invalid("output.read", "zero-tail", { taskId: "t-40", tail: 0 }, "tail"),

  valid("alerts.list", "firing", {}, "cli-ana"),
  valid("alerts.list", "all", { all: true }, "cli-ana"),
  invalid("alerts.list", "all-not-boolean", { all: "yes" }, "all"),

  valid("history.get", "everything", {}, "dashboard"),
  valid("history.get", "last-5", { minutes: 5 }, "dashboard"),
  invalid("history.get", "too-long", { minutes: 61 }, "minutes"),

  valid("reply", "list", { replyTo: "nodes.list-1", result: [summary] }, "coordinator"),
  valid("reply", "null", { replyTo: "dlq.purge-1", result: null }, "coordinator"),
  invalid("reply", "missing-reply-to", { result: 1 }, "replyTo"),
  invalid("reply", "missing-result", { replyTo: "task.get-1" }, "result"),
  valid("projects.list", "open", { state: "open" }, "agent-mac"),
  invalid("projects.list", "bad-filter", { state: "finished" }, "state"),

  valid("project.read", "ok", { projectId: "proj-1" }, "agent-mac"),
  invalid("project.read", "bad-id", { projectId: "1" }, "projectId"),

  valid(
    "project.create",
    "with-deps",
    {
      initialPrompt: "Ship the release",
      autoApprove: true,
      tasks: [
        {
          title: "Build",
          description: "Build it",
          priority: "high",
          run: { argv: ["make"], needs: ["linux"] },
        },
        { title: "Notes", description: "Write the notes", after: ["#1"], needs: ["writer"] },
      ],
      agent: "mac",
    },
    "agent-mac",
  ),
  invalid("project.create", "missing-prompt", { tasks: [] }, "initialPrompt"),

  valid("project.delete", "ok", { projectId: "proj-1" }, "agent-mac"),
  invalid("project.delete", "missing-id", {}, "projectId"),

  valid(
    "project.addTasks",
    "one",
    { projectId: "proj-1", tasks: [{ title: "T", description: "D" }] },
    "agent-mac",
  ),
  invalid("project.addTasks", "none", { projectId: "proj-1", tasks: [] }, "tasks"),

  valid("project.finalize", "ok", { projectId: "proj-1" }, "cli-ana"),
  invalid("project.finalize", "bad-id", { projectId: "proj-0" }, "projectId"),

  valid("project.tasks.list", "pending", { projectId: "proj-1", state: "pending_approval" }, "agent-mac"),
  invalid("project.tasks.list", "bad-project", { projectId: "p1" }, "projectId"),

  valid("project.task.read", "ok", { taskId: "task-3" }, "agent-mac"),
  invalid("project.task.read", "bad-task", { taskId: "t-3" }, "taskId"),

  valid(
    "project.task.create",
    "ok",
    { projectId: "proj-1", task: { title: "T", description: "D" } },
    "agent-mac",
  ),
  invalid(
    "project.task.create",
    "missing-title",
    { projectId: "proj-1", task: { description: "D" } },
    "task.title",
  ),

  valid(
    "project.task.update",
    "done",
    { projectId: "proj-1", taskId: "task-3", update: { status: "done", completedDetails: "tests pass" } },
    "agent-mac",
  ),
  invalid(
    "project.task.update",
    "bad-status",
    { projectId: "proj-1", taskId: "task-3", update: { status: "finished" } },
    "update.status",
  ),

  valid("project.task.delete", "ok", { projectId: "proj-1", taskId: "task-3" }, "agent-mac"),
  invalid("project.task.delete", "missing-task", { projectId: "proj-1" }, "taskId"),

  valid("project.task.approve", "ok", { projectId: "proj-1", taskId: "task-3" }, "cli-ana"),
  invalid("project.task.approve", "missing-project", { taskId: "task-3" }, "projectId"),

  valid(
    "project.task.next",
    "claim",
    { projectId: "proj-1", claim: true, agent: "mac", capabilities: ["macos"] },
    "agent-mac",
  ),
  invalid("project.task.next", "bad-agent", { projectId: "proj-1", agent: "-mac" }, "agent"),

  valid("project.task.claim", "any", { capabilities: ["linux", "docker"] }, "agent-vps"),
  invalid("project.task.claim", "bad-capabilities", { capabilities: "linux" }, "capabilities"),
];
