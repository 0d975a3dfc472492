import type { Constraint, NeedValue, NodeView, Requirements } from "../types.js";

/** Result of {@link checkEligibility}. */
export type Eligibility = { eligible: true } | { eligible: false; reasons: string[] };

/** A node that cannot take a task, with every reason why. */
export interface RejectedNode {
  nodeId: string;
  reasons: string[];
}

/** Options of the eligibility checks. */
export interface EligibilityOptions {
  /** Also require a free slot now (default false: a node with a queue can take work while busy). */
  requireFreeSlot?: boolean;
  /** Accept unhealthy, draining or breaker-open nodes (default false; for "could it ever run there"). */
  ignoreHealth?: boolean;
}

const NUMERIC_ATTRS = new Set(["cores", "memoryBytes", "freeDiskBytes"]);

/**
 * Looks up an attribute by name: a machine attribute (`os`, `arch`, `cores`, `memoryBytes`, `docker`,
 * `freeDiskBytes`), a label (`label.<key>` or a plain key present in the labels), or a capability name
 * (true when listed). `docker` is also true when listed as a capability. Undefined when the node has no such
 * thing.
 */
export function nodeAttribute(node: NodeView, attr: string): NeedValue | undefined {
  const attributes = node.attributes;
  switch (attr) {
    case "os":
      return attributes.os;
    case "arch":
      return attributes.arch;
    case "cores":
      return attributes.cores;
    case "memoryBytes":
      return attributes.memoryBytes;
    case "freeDiskBytes":
      return attributes.freeDiskBytes;
    case "docker":
      return attributes.docker || node.capabilities.includes("docker");
  }
  if (attr.startsWith("label.")) return attributes.labels[attr.slice(6)];
  const label = attributes.labels[attr];
  if (label !== undefined) return label;
  return node.capabilities.includes(attr) ? true : undefined;
}

function truthy(value: NeedValue | undefined): boolean {
  return value !== undefined && value !== false && value !== 0 && value !== "" && value !== "false";
}

function looseEquals(actual: NeedValue | undefined, expected: NeedValue): boolean {
  if (actual === expected) return true;
  if (actual === undefined) return false;
  if (typeof expected === "boolean") return truthy(actual) === expected;
  if (typeof actual === "number" || typeof expected === "number") return Number(actual) === Number(expected);
  const have = String(actual);
  const want = String(expected);
  return have.length === want.length && have.toLowerCase() === want.toLowerCase();
}

function show(value: NeedValue | readonly NeedValue[] | undefined): string {
  if (value === undefined) return "nothing";
  return Array.isArray(value) ? `[${value.join(", ")}]` : String(value);
}

/** Whether a constraint holds on a node. */
export function constraintHolds(node: NodeView, constraint: Constraint): boolean {
  const actual = nodeAttribute(node, constraint.attr);
  const expected = constraint.value;
  const single = Array.isArray(expected) ? expected[0] : (expected as NeedValue | undefined);
  switch (constraint.op) {
    case "exists":
      return actual !== undefined && actual !== false;
    case "eq":
      return single !== undefined && looseEquals(actual, single);
    case "neq":
      return single === undefined || !looseEquals(actual, single);
    case "in": {
      if (!Array.isArray(expected))
        return expected !== undefined && looseEquals(actual, expected as NeedValue);
      for (const option of expected as readonly NeedValue[]) if (looseEquals(actual, option)) return true;
      return false;
    }
    default: {
      if (actual === undefined) return false;
      const have = Number(actual);
      const want = Number(single);
      if (Number.isNaN(have) || Number.isNaN(want)) return false;
      if (constraint.op === "gt") return have > want;
      if (constraint.op === "gte") return have >= want;
      if (constraint.op === "lt") return have < want;
      return have <= want;
    }
  }
}

/** Why a constraint fails on a node, or undefined when it holds. */
export function constraintFailure(node: NodeView, constraint: Constraint): string | undefined {
  if (constraintHolds(node, constraint)) return undefined;
  return `${constraint.attr} ${constraint.op} ${show(constraint.value)} (has ${show(nodeAttribute(node, constraint.attr))})`;
}

/** Whether a `needs` entry holds on a node. Numbers on numeric attributes are minimums. */
export function needHolds(node: NodeView, name: string, wanted: NeedValue): boolean {
  const actual = nodeAttribute(node, name);
  if (typeof wanted === "boolean") return truthy(actual) === wanted;
  if (typeof wanted === "number" && NUMERIC_ATTRS.has(name)) return Number(actual) >= wanted;
  return looseEquals(actual, wanted);
}

/** Why a `needs` entry fails on a node, or undefined when it holds. */
export function needFailure(node: NodeView, name: string, wanted: NeedValue): string | undefined {
  if (needHolds(node, name, wanted)) return undefined;
  const actual = nodeAttribute(node, name);
  if (typeof wanted === "boolean") return `${name}=${wanted} (has ${show(actual ?? false)})`;
  if (typeof wanted === "number" && NUMERIC_ATTRS.has(name))
    return `${name}>=${wanted} (has ${show(actual)})`;
  return `${name}=${wanted} (has ${show(actual)})`;
}

/**
 * Whether `node` can take a task with these requirements: the same rules as {@link checkEligibility}
 * without building reasons or allocating, for the placement hot path.
 */
export function isEligible(
  requirements: Requirements,
  node: NodeView,
  options: EligibilityOptions = {},
): boolean {
  if (!options.ignoreHealth && (!node.healthy || node.draining === true || node.breaker === "open"))
    return false;
  const needs = requirements.needs;
  if (needs !== undefined) {
    for (const name in needs) if (!needHolds(node, name, needs[name] as NeedValue)) return false;
  }
  const constraints = requirements.constraints;
  if (constraints !== undefined) {
    for (const constraint of constraints) if (!constraintHolds(node, constraint)) return false;
  }
  const slots = requirements.slots ?? 1;
  if (slots > node.slotsTotal) return false;
  if (options.requireFreeSlot && node.slotsUsed + slots > node.slotsTotal) return false;
  if (requirements.memoryBytes !== undefined) {
    if (requirements.memoryBytes > (node.freeMemoryBytes ?? node.attributes.memoryBytes)) return false;
  }
  return true;
}

/**
 * Whether `node` can take a task with these requirements, and if not, every reason (for the user's error
 * message). Checks health (healthy, not draining, breaker not open), needs, constraints and resources.
 */
export function checkEligibility(
  requirements: Requirements,
  node: NodeView,
  options: EligibilityOptions = {},
): Eligibility {
  let reasons: string[] | undefined;
  const fail = (reason: string): void => {
    if (reasons === undefined) reasons = [reason];
    else reasons.push(reason);
  };
  if (!options.ignoreHealth) {
    if (!node.healthy) fail("unhealthy");
    if (node.draining === true) fail("draining");
    if (node.breaker === "open") fail("circuit breaker open");
  }
  const needs = requirements.needs;
  if (needs !== undefined) {
    for (const name in needs) {
      const failure = needFailure(node, name, needs[name] as NeedValue);
      if (failure !== undefined) fail(failure);
    }
  }
  const constraints = requirements.constraints;
  if (constraints !== undefined) {
    for (const constraint of constraints) {
      const failure = constraintFailure(node, constraint);
      if (failure !== undefined) fail(failure);
    }
  }
  const slots = requirements.slots ?? 1;
  if (slots > node.slotsTotal) fail(`needs ${slots} slots (has ${node.slotsTotal})`);
  else if (options.requireFreeSlot && node.slotsUsed + slots > node.slotsTotal) fail("no free slot");
  if (requirements.memoryBytes !== undefined) {
    const free = node.freeMemoryBytes ?? node.attributes.memoryBytes;
    if (requirements.memoryBytes > free)
      fail(`needs ${requirements.memoryBytes} bytes of memory (has ${free})`);
  }
  return reasons === undefined ? { eligible: true } : { eligible: false, reasons };
}

/**
 * Splits `nodes` into those that can take the task and those that cannot, with reasons. The reasons of a
 * rejected node are worked out on first read (they are only needed when the task cannot be placed), which
 * keeps a decision over hundreds of nodes in microseconds.
 */
export function eligibleNodes(
  requirements: Requirements,
  nodes: readonly NodeView[],
  options: EligibilityOptions = {},
): { eligible: NodeView[]; rejected: RejectedNode[] } {
  const eligible: NodeView[] = [];
  const rejected: RejectedNode[] = [];
  for (const node of nodes) {
    if (isEligible(requirements, node, options)) eligible.push(node);
    else rejected.push(new LazyRejection(requirements, node, options));
  }
  return { eligible, rejected };
}

/**
 * A rejected node whose reasons are computed on first read. A class rather than an object literal with a
 * getter: V8 builds these an order of magnitude faster, which matters when most of 200 nodes are rejected.
 */
class LazyRejection implements RejectedNode {
  readonly nodeId: string;
  readonly #requirements: Requirements;
  readonly #node: NodeView;
  readonly #options: EligibilityOptions;
  #reasons: string[] | undefined;

  constructor(requirements: Requirements, node: NodeView, options: EligibilityOptions) {
    this.nodeId = node.id;
    this.#requirements = requirements;
    this.#node = node;
    this.#options = options;
  }

  get reasons(): string[] {
    if (this.#reasons === undefined) {
      const result = checkEligibility(this.#requirements, this.#node, this.#options);
      this.#reasons = result.eligible ? [] : result.reasons;
    }
    return this.#reasons;
  }

  toJSON(): { nodeId: string; reasons: string[] } {
    return { nodeId: this.nodeId, reasons: this.reasons };
  }
}

/** The requirements as a short list, e.g. `docker=true, os=linux, cores>=8`. */
export function describeRequirements(requirements: Requirements): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(requirements.needs ?? {})) {
    parts.push(
      typeof value === "number" && NUMERIC_ATTRS.has(name) ? `${name}>=${value}` : `${name}=${value}`,
    );
  }
  for (const constraint of requirements.constraints ?? []) {
    parts.push(`${constraint.attr} ${constraint.op} ${show(constraint.value)}`);
  }
  return parts.join(", ");
}

/**
 * One sentence for a user whose task has nowhere to go, e.g.
 * `no healthy node with docker=true (mac-1: docker=true (has false); linux-1: unhealthy)`.
 */
export function describeUnmet(rejected: readonly RejectedNode[], requirements?: Requirements): string {
  const wanted = requirements === undefined ? "" : describeRequirements(requirements);
  const head = wanted === "" ? "no healthy node can take the task" : `no healthy node with ${wanted}`;
  if (rejected.length === 0) return `${head}: no nodes are registered`;
  const perNode = rejected.map((node) => `${node.nodeId}: ${node.reasons.join(", ")}`);
  return `${head} (${perNode.join("; ")})`;
}
