/**
 * Redis names. The first group is the vocabulary other bridges already speak and must stay byte-for-byte
 * the same; the second is Flotilla's own.
 *
 * Redis Cluster: a task's own keys carry the task id as a hash tag (`task:{t1}`, `task:{t1}:output`,
 * `task:{t1}:events`) so they share a slot and can be read together. The Lua transitions also touch the
 * shared queues, leases and indexes, which no per-task tag can co-locate; a fleet on Cluster therefore uses a
 * hash-tagged prefix such as `{fleet}`: Redis hashes only the first `{…}` of a name, so every key of that
 * fleet lands in one slot and the scripts stay atomic. Legacy names get no tags of their own, because other
 * bridges compute them without.
 *
 * On a cluster those legacy names therefore move: with the prefix `{fleet}` the seed vocabulary is
 * `{fleet}:agents:active`, `{fleet}:agent:<id>:heartbeat`, `{fleet}:events:tasks:updates`,
 * `{fleet}:metrics:task_distribution` and so on (a bridge reading the fleet there must use the prefix); on
 * a plain Redis without a prefix they stay byte-for-byte as they were. {@link fleetHashTag} says whether a
 * prefix puts a fleet in one slot.
 */
export interface RedisKeys {
  /** The prefix as given (`""` for none). */
  readonly prefix: string;
  /** Pub/sub: broadcasts to every node. */
  readonly general: string;
  /** Pub/sub: system events. */
  readonly events: string;
  /** Pub/sub: nodes announcing themselves. */
  readonly discoveryAnnounce: string;
  /** Pub/sub: who-is-there queries. */
  readonly discoveryQuery: string;
  /** Pub/sub: answers to discovery queries. */
  readonly discoveryResponse: string;
  /** Pub/sub: one node's inbox. */
  agentMessages(nodeId: string): string;
  /** Stream: one agent's inbox as kept for late readers (bounded). */
  agentInbox(agentId: string): string;
  /** Stream: the broadcasts on `agents:general` as kept for late readers (bounded). */
  readonly generalKept: string;
  /** Pub/sub channel and, under the same name, the bounded stream that keeps a named topic. */
  topic(name: string): string;
  /** String with a TTL: present while the node is alive. */
  agentHeartbeat(nodeId: string): string;
  /** Set of live node ids. */
  readonly agentsActive: string;
  /** Hash: the node registry record (see `nodeRecordToHash`). */
  agent(nodeId: string): string;
  /** Pub/sub: task state changes (`task.event`). */
  readonly taskUpdates: string;
  /** Pub/sub: task failures. */
  readonly taskFailures: string;
  /** Hash: tasks per node. */
  readonly taskDistribution: string;
  /** Hash: the task record. */
  task(taskId: string): string;
  /** Stream: the task's output chunks. */
  taskOutput(taskId: string): string;
  /** List: the task's stored events. */
  taskEvents(taskId: string): string;
  /** String: idempotency key -> task id. */
  idempotency(key: string): string;
  /** Sorted set: a node's local queue. */
  queue(nodeId: string): string;
  /** Sorted set: tasks no node can take now. */
  readonly waitingQueue: string;
  /** Sorted set: leases scored by expiry. */
  readonly leases: string;
  /** Set: tasks running on a node. */
  running(nodeId: string): string;
  /** Sorted set: dead-lettered tasks. */
  readonly dlq: string;
  /** Sorted set: every task, scored by createdAt. */
  readonly tasksAll: string;
  /** String/hash: a node's circuit breaker state. */
  breaker(nodeId: string): string;
  /** Counter for task ids. */
  readonly taskSeq: string;
  /** Hash: project id -> project JSON (its fields and its task ids in order). */
  readonly projects: string;
  /** Hash: project task id -> project task JSON. */
  readonly projectTasks: string;
  /** Sorted set: claimed project tasks, scored by when their lease lapses. */
  readonly projectClaims: string;
  /** Hash: fleet task id -> the project task whose `run` it is. */
  readonly projectRuns: string;
  /** Set: project tasks with `run` that are ready and not yet submitted to the fleet. */
  readonly projectRunsReady: string;
  /** Sorted set (scores all 0): project tasks an agent could claim now, in claim order by member. */
  readonly projectReady: string;
  /** Counter for project ids (`proj-N`). */
  readonly projectSeq: string;
  /** Counter for project task ids (`task-N`, unique across projects). */
  readonly projectTaskSeq: string;
}

/**
 * Builds the Redis names of one fleet. With prefix `"p"` every name is `"p:" + name`, so two fleets can share
 * a Redis.
 */
export function createKeys(prefix = ""): RedisKeys {
  const name = prefix === "" ? (key: string) => key : (key: string) => `${prefix}:${key}`;
  return {
    prefix,
    general: name("agents:general"),
    events: name("agents:events"),
    discoveryAnnounce: name("agents:discovery:announce"),
    discoveryQuery: name("agents:discovery:query"),
    discoveryResponse: name("agents:discovery:response"),
    agentMessages: (nodeId) => name(`agent:${nodeId}:messages`),
    agentInbox: (agentId) => name(`agent:${agentId}:inbox`),
    generalKept: name("agents:general:kept"),
    topic: (topicName) => name(`agents:topic:${topicName}`),
    agentHeartbeat: (nodeId) => name(`agent:${nodeId}:heartbeat`),
    agentsActive: name("agents:active"),
    agent: (nodeId) => name(`agent:${nodeId}`),
    taskUpdates: name("events:tasks:updates"),
    taskFailures: name("events:errors:task_failures"),
    taskDistribution: name("metrics:task_distribution"),
    task: (taskId) => name(`task:{${taskId}}`),
    taskOutput: (taskId) => name(`task:{${taskId}}:output`),
    taskEvents: (taskId) => name(`task:{${taskId}}:events`),
    idempotency: (key) => name(`idem:${key}`),
    queue: (nodeId) => {
      // `queue:waiting` is the shared waiting set; a node of that name would silently share it.
      if (nodeId === "waiting")
        throw new RangeError('a node cannot be named "waiting": queue:waiting is reserved');
      return name(`queue:${nodeId}`);
    },
    waitingQueue: name("queue:waiting"),
    leases: name("leases"),
    running: (nodeId) => name(`running:${nodeId}`),
    dlq: name("dlq"),
    tasksAll: name("tasks:all"),
    breaker: (nodeId) => name(`breaker:${nodeId}`),
    taskSeq: name("seq:tasks"),
    projects: name("projects"),
    projectTasks: name("projects:tasks"),
    projectClaims: name("projects:claims"),
    projectRuns: name("projects:runs"),
    projectRunsReady: name("projects:runs:ready"),
    projectReady: name("projects:ready"),
    projectSeq: name("seq:projects"),
    projectTaskSeq: name("seq:project-tasks"),
  };
}

/**
 * The hash tag a prefix gives every key of its fleet, as Redis Cluster reads it (the text between the first
 * `{` and the first `}` after it, when not empty), or `undefined` when the prefix has none, so the fleet's
 * keys would spread over slots and its scripts could not run on a cluster. `createKeys` puts the prefix in
 * front of every name, so that first `{…}` is the prefix's (`{fleet}:task:{t1}` hashes `fleet`).
 */
export function fleetHashTag(prefix: string): string | undefined {
  const open = prefix.indexOf("{");
  if (open < 0) return undefined;
  const close = prefix.indexOf("}", open + 1);
  if (close <= open + 1) return undefined;
  return prefix.slice(open + 1, close);
}
