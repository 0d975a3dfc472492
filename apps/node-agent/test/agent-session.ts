/**
 * The agent session tests' common ground: a {@link TestCoordinator} started afresh for each test (a live
 * binding, `coordinator`), agents against it that are stopped after each test, task assignment, and gates
 * that hold a run until the test has done its part. {@link useAgentSession} installs the hooks.
 */
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { type Agent, type AgentOptions, createAgent } from "../src/agent.js";
import type { Fingerprint } from "../src/fingerprint.js";
import { TestCoordinator } from "./test-coordinator.js";

export const fingerprint: Fingerprint = {
  os: "linux",
  distro: "Debian GNU/Linux",
  release: "12",
  arch: "x64",
  cpuModel: "test cpu",
  cores: 4,
  memoryBytes: 8e9,
  freeDiskBytes: 50e9,
  docker: { available: false },
};

/** The coordinator of the running test. */
export let coordinator: TestCoordinator;

/** Makes `next` the coordinator of the running test (closed after it, like the first). */
export function setCoordinator(next: TestCoordinator): void {
  coordinator = next;
}
const agents: Agent[] = [];

/** An agent against the test coordinator; `measure` makes it fingerprint the real machine. */
export function agent({
  measure = false,
  ...options
}: Partial<AgentOptions> & { measure?: boolean } = {}): Agent {
  const created = createAgent({
    coordinatorUrl: coordinator.url,
    token: coordinator.token,
    id: "node-a",
    slots: 2,
    ...(measure ? {} : { fingerprint }),
    logger: pino({ level: "silent" }),
    killGraceMs: 500,
    shutdownGraceMs: 5_000,
    connectTimeoutMs: 3_000,
    stealIdleMs: 60_000,
    ...options,
  });
  agents.push(created);
  return created;
}

let nextTask = 0;
export function assign(spec: Record<string, unknown>, epoch = 1): string {
  const taskId = `t${++nextTask}`;
  coordinator.send("task.assign", { taskId, epoch, attempt: 1, spec: spec as never });
  return taskId;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(10);
  }
}

let gateDir: string;
let gates = 0;
/**
 * A file the test creates when it is ready, and the shell loop that waits for it: keeps a run going until
 * the test has done its part (dropped the connection, seen a heartbeat), where a sleep would only make that
 * likely.
 */
export function gate(): { wait: string; open: () => void } {
  const file = join(gateDir, `gate-${++gates}`);
  return { wait: `while [ ! -e '${file}' ]; do sleep 0.02; done`, open: () => writeFileSync(file, "") };
}

/** Installs the hooks: a gate directory for the file, a coordinator per test, agents stopped after each. */
export function useAgentSession(): void {
  beforeAll(async () => {
    gateDir = await mkdtemp(join(tmpdir(), "flotilla-gates-"));
  });
  afterAll(async () => {
    await rm(gateDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    coordinator = await TestCoordinator.start();
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ now: true })));
    await coordinator.close();
  });
}
