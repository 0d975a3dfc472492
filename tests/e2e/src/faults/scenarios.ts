import { FaultFleet, type ScenarioReport, sleep } from "./harness.js";
import { createNetworks, namespacesAvailable, removeNetworks, setLink } from "./netns.js";

/** What a scenario returns: its report line and any broken invariant. */
export interface ScenarioResult {
  report: ScenarioReport | { fault: string; skipped: string };
  violations: string[];
}

const THREE_AGENTS = [
  { id: "alpha", slots: 2 },
  { id: "bravo", slots: 2 },
  { id: "charlie", slots: 2 },
];
const TASKS = 300;
const FINISH_WITHIN_MS = 120_000;

/** The node currently running the most tasks, per the coordinator. */
async function busiestNode(fleet: FaultFleet, among: readonly string[]): Promise<string> {
  const nodes = await fleet.client.nodes();
  const candidates = nodes.filter((node) => among.includes(node.id) && node.health === "healthy");
  candidates.sort((a, b) => b.slotsUsed - a.slotsUsed);
  return candidates[0]?.id ?? (among[0] as string);
}

async function waitForEvent(
  fleet: FaultFleet,
  type: string,
  node: string,
  after: number,
  timeoutMs = 20_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = fleet.events.find(
      (event) => event.type === type && event.node === node && event.at >= after,
    );
    if (found) return found.at;
    await sleep(25);
  }
  throw new Error(`no ${type} event for ${node} within ${timeoutMs} ms`);
}

/** 1. kill -9 one agent mid-run, five times in a row, each time another agent (it is restarted after). */
export async function agentKill(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 1);
    const faults: number[] = [];
    const ids3 = THREE_AGENTS.map((agent) => agent.id);
    for (let round = 0; round < 5; round += 1) {
      await sleep(1200);
      const victim = ids3[round % ids3.length] as string;
      const service = fleet.fleet.agents.get(victim);
      const killedAt = Date.now();
      faults.push(killedAt);
      service?.signal("SIGKILL");
      await waitForEvent(fleet, "node.dead", victim, killedAt);
      await fleet.fleet.startAgent(THREE_AGENTS.find((agent) => agent.id === victim) ?? { id: victim });
    }
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    return await fleet.judge("agent_kill_x5", ids, faults);
  } finally {
    await fleet.stop();
  }
}

/** 2. An agent frozen with SIGSTOP for 10 s, then SIGCONT: its stale results must be fenced. */
export async function agentFreeze(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 2);
    await sleep(1500);
    const victim = await busiestNode(fleet, ["alpha", "bravo", "charlie"]);
    const service = fleet.fleet.agents.get(victim);
    const frozenAt = Date.now();
    service?.signal("SIGSTOP");
    await sleep(10_000);
    service?.signal("SIGCONT");
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    await sleep(1500); // let the thawed agent report what it had, so fencing is exercised
    return await fleet.judge("agent_freeze_10s", ids, [frozenAt], { frozen: victim });
  } finally {
    await fleet.stop();
  }
}

/** 3. kill -9 the coordinator mid-run and start it again. */
export async function coordinatorKill(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 3);
    await sleep(2500);
    const killedAt = Date.now();
    fleet.fleet.coordinator.signal("SIGKILL");
    await fleet.fleet.coordinator.exited;
    await sleep(1000);
    await fleet.fleet.restartCoordinator();
    const back = Date.now() - killedAt;
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    return await fleet.judge("coordinator_kill", ids, [killedAt], { outage_ms: back });
  } finally {
    await fleet.stop();
  }
}

/** 4. kill -9 Redis (AOF on, everysec) mid-run and start it again. */
export async function redisKill(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 4);
    await sleep(2500);
    const killedAt = Date.now();
    await fleet.fleet.redis?.kill();
    await sleep(2000);
    await fleet.fleet.redis?.restart();
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const coordinatorAlive = fleet.fleet.coordinator.running;
    const agentsAlive = [...fleet.fleet.agents.values()].every((agent) => agent.running);
    const result = await fleet.judge("redis_kill", ids, [killedAt], { outage_ms: 2000 });
    if (!coordinatorAlive) result.violations.push("the coordinator died during the Redis outage");
    if (!agentsAlive) result.violations.push("an agent died during the Redis outage");
    return result;
  } finally {
    await fleet.stop();
  }
}

/** 5. Agents in their own network namespaces; two are cut off for 15 s, then healed. */
export async function partition(log: (line: string) => void): Promise<ScenarioResult> {
  const available = namespacesAvailable();
  if (!available.ok) {
    return {
      report: { fault: "partition_15s", skipped: `network namespaces unavailable: ${available.why}` },
      violations: [],
    };
  }
  const networks = createNetworks(3);
  try {
    const base = (await import("../bins.js")).agentBin();
    const agents = THREE_AGENTS.map((agent, index) => {
      const network = networks[index];
      if (!network) throw new Error("missing network");
      return {
        ...agent,
        bin: { command: "ip", args: ["netns", "exec", network.namespace, ...[base.command, ...base.args]] },
        coordinatorUrl: `ws://${network.hostAddress}:PORT`,
      };
    });
    const fleet = await FaultFleet.start({ agents: [], host: "0.0.0.0", log });
    try {
      const port = new URL(fleet.fleet.url).port;
      for (const agent of agents)
        await fleet.fleet.startAgent({
          ...agent,
          coordinatorUrl: agent.coordinatorUrl.replace("PORT", port),
        });
      const { ids } = await fleet.submitWorkload(TASKS, 5);
      await sleep(1500);
      const cut = networks.slice(0, 2);
      const cutAt = Date.now();
      for (const network of cut) setLink(network, false);
      await sleep(15_000);
      for (const network of cut) setLink(network, true);
      await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
      await sleep(1500);
      return await fleet.judge("partition_15s", ids, [cutAt]);
    } finally {
      await fleet.stop();
    }
  } finally {
    removeNetworks(networks);
  }
}

/** 6. A node whose tasks keep failing to spawn: its breaker opens, work flows elsewhere, one probe later. */
export async function spawnFailure(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({
    agents: [...THREE_AGENTS, { id: "broken", slots: 2, env: { PATH: "/nonexistent" } }],
    log,
  });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 6);
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const result = await fleet.judge("spawn_failure_breaker", ids, []);
    const breaker = fleet.events.filter((event) => event.type === "node.breaker" && event.node === "broken");
    const opened = breaker.filter((event) => event.to === "open").length;
    const probes = breaker.filter((event) => event.to === "half_open").length;
    if (opened === 0) result.violations.push("the broken node's breaker never opened");
    const ranOnBroken = [...result.taskEvents.values()].filter((events) =>
      events.some((event) => event.state === "succeeded" && event.node === "broken"),
    ).length;
    if (ranOnBroken > 0) result.violations.push(`${ranOnBroken} tasks succeeded on the broken node`);
    Object.assign(result.report, { breaker_opened: opened, probes });
    return result;
  } finally {
    await fleet.stop();
  }
}

/** 7. All work lands on one node first; idle nodes steal it (makespan within 1.3x of the lower bound). */
export async function skewedSteal(log: (line: string) => void): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log });
  try {
    await fleet.client.drain("bravo");
    await fleet.client.drain("charlie");
    const started = Date.now();
    const { ids, workMs } = await fleet.submitWorkload(TASKS, 7);
    await fleet.client.undrain("bravo");
    await fleet.client.undrain("charlie");
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const result = await fleet.judge("skewed_steal", ids, []);
    let lastFinish = 0;
    let firstStart = Number.POSITIVE_INFINITY;
    const perNode = new Map<string, number>();
    for (const events of result.taskEvents.values()) {
      const done = events.find((event) => event.state === "succeeded");
      if (done) {
        lastFinish = Math.max(lastFinish, done.at);
        perNode.set(done.node ?? "?", (perNode.get(done.node ?? "?") ?? 0) + 1);
      }
      const running = events.find((event) => event.state === "running");
      if (running) firstStart = Math.min(firstStart, running.at);
    }
    const slots = THREE_AGENTS.reduce((sum, agent) => sum + agent.slots, 0);
    const lowerBound = Math.max(workMs.reduce((sum, ms) => sum + ms, 0) / slots, Math.max(...workMs));
    const makespan = lastFinish - Math.max(firstStart, started);
    const ratio = makespan / lowerBound;
    Object.assign(result.report, {
      makespan_ms: makespan,
      lower_bound_ms: Math.round(lowerBound),
      makespan_ratio: Number(ratio.toFixed(3)),
      per_node: Object.fromEntries(perNode),
    });
    if (ratio > 1.3)
      result.violations.push(
        `makespan ${makespan} ms is ${ratio.toFixed(2)}x the lower bound (goal <= 1.3x)`,
      );
    return result;
  } finally {
    await fleet.stop();
  }
}

export const SCENARIOS: Record<string, (log: (line: string) => void) => Promise<ScenarioResult>> = {
  agent_kill: agentKill,
  agent_freeze: agentFreeze,
  coordinator_kill: coordinatorKill,
  redis_kill: redisKill,
  partition,
  spawn_failure: spawnFailure,
  skewed_steal: skewedSteal,
};
