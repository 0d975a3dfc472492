import { FaultFleet, sleep } from "./harness.js";
import {
  busiestNode,
  exitsWithin,
  healthz,
  pollUntil,
  roleOf,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
  THREE_AGENTS,
  upgradeStatus,
} from "./probes.js";

/**
 * Scenarios where the coordinator itself fails: killed at the failpoint inside declaring a node dead, down
 * while a node dies, and the two-coordinator setups (one active, one standby that takes over). Each one
 * bounds every wait, so a coordinator without the feature under test fails the scenario with a reason.
 */

const TASKS = 200;
const FINISH_WITHIN_MS = 90_000;
/** How long the coordinator has to reach the declare-dead failpoint after the agent is killed. */
const FAILPOINT_WITHIN_MS = 20_000;
const TAKEOVER_GOAL_MS = 5000;

/** How much work `node` holds in Redis: its running set and its queue. */
async function heldBy(fleet: FaultFleet, node: string): Promise<{ running: number; queued: number }> {
  const queueKey = fleet.keys.queue(node);
  const [running, type] = await Promise.all([
    fleet.redis.scard(fleet.keys.running(node)),
    fleet.redis.type(queueKey),
  ]);
  const queued =
    type === "zset"
      ? await fleet.redis.zcard(queueKey)
      : type === "list"
        ? await fleet.redis.llen(queueKey)
        : 0;
  return { running, queued };
}

/**
 * The coordinator runs with `FLOTILLA_FAILPOINT=declare-dead`: it kills itself in the middle of declaring
 * a node dead, once the node is marked offline and the first of its leases is requeued, before the rest
 * of its running set and its queue are (the node leaves `agents:active` only after them). Started again
 * without the failpoint, it must still find that work and requeue it.
 */
export async function coordinatorKillInDeclareDead({
  log,
  runLog,
}: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({
    agents: THREE_AGENTS,
    log,
    runLog,
    coordinatorEnv: { FLOTILLA_FAILPOINT: "declare-dead" },
  });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 21, { durationMs: [100, 600] });
    await sleep(1500);
    const victim = await busiestNode(fleet, ["alpha", "bravo", "charlie"]);
    const held = await heldBy(fleet, victim);
    const killedAt = Date.now();
    fleet.fleet.agents.get(victim)?.signal("SIGKILL");
    const violations: string[] = [];
    const died = await exitsWithin(fleet.fleet.coordinator.exited, FAILPOINT_WITHIN_MS);
    const diedAfterMs = Date.now() - killedAt;
    if (died) {
      await fleet.fleet.restartCoordinator({ env: {} });
    } else {
      violations.push(
        `the coordinator did not stop at the declare-dead failpoint within ${FAILPOINT_WITHIN_MS} ms of ${victim}'s death (FLOTILLA_FAILPOINT not supported?)`,
      );
    }
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const result = await fleet.judge("coordinator_kill_in_declare_dead", ids, [killedAt], {
      victim,
      victim_running: held.running,
      victim_queued: held.queued,
      failpoint_hit: died,
      coordinator_died_after_ms: died ? diedAfterMs : null,
    });
    result.violations.unshift(...violations);
    return result;
  } finally {
    await fleet.stop();
  }
}

/** kill -9 the coordinator, then kill -9 a busy agent while it is down, then start the coordinator again. */
export async function nodeDiesWhileCoordinatorDown({
  log,
  runLog,
}: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog });
  try {
    const { ids } = await fleet.submitWorkload(TASKS, 22, { durationMs: [100, 600] });
    await sleep(1500);
    const victim = await busiestNode(fleet, ["alpha", "bravo", "charlie"]);
    const held = await heldBy(fleet, victim);
    const killedAt = Date.now();
    fleet.fleet.coordinator.signal("SIGKILL");
    await fleet.fleet.coordinator.exited;
    const agent = fleet.fleet.agents.get(victim);
    agent?.signal("SIGKILL");
    await agent?.exited;
    await sleep(1000);
    await fleet.fleet.restartCoordinator();
    const outageMs = Date.now() - killedAt;
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    return await fleet.judge("node_dies_while_coordinator_down", ids, [killedAt], {
      victim,
      victim_running: held.running,
      victim_queued: held.queued,
      outage_ms: outageMs,
    });
  } finally {
    await fleet.stop();
  }
}

/** Each coordinator's role per its `/healthz`, polled until exactly one is active and the rest standby. */
async function settledRoles(
  fleet: FaultFleet,
  timeoutMs: number,
): Promise<{ roles: string[]; settled: boolean }> {
  let roles: string[] = [];
  const settled = await pollUntil(timeoutMs, 100, async () => {
    roles = await Promise.all(fleet.fleet.coordinatorUrls.map(async (url) => roleOf(await healthz(url))));
    const active = roles.filter((role) => role === "active").length;
    const standby = roles.filter((role) => role === "standby").length;
    return active === 1 && active + standby === roles.length ? true : undefined;
  });
  return { roles, settled: settled === true };
}

/** Checks that one coordinator is active, the other a standby that refuses WebSocket upgrades with 503. */
async function checkRoles(
  fleet: FaultFleet,
  violations: string[],
): Promise<{ roles: string[]; active: number }> {
  const { roles, settled } = await settledRoles(fleet, 10_000);
  if (!settled) {
    violations.push(
      `expected one active coordinator and one standby, /healthz says ${JSON.stringify(roles)}`,
    );
  }
  const active = roles.indexOf("active");
  const standby = roles.indexOf("standby");
  if (standby >= 0) {
    const status = await upgradeStatus(fleet.fleet.coordinatorUrls[standby] as string, fleet.fleet.token);
    if (status !== 503) violations.push(`the standby answered a WebSocket upgrade with ${status}, not 503`);
  }
  return { roles, active };
}

/** Two coordinators on one Redis: exactly one active, work flows through it, nothing lost or repeated. */
export async function twoCoordinators({ log, runLog }: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog, coordinators: 2 });
  try {
    const violations: string[] = [];
    const { roles } = await checkRoles(fleet, violations);
    const { ids } = await fleet.submitWorkload(TASKS, 23, { durationMs: [10, 300] });
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const after = await settledRoles(fleet, 0);
    if (!after.settled) violations.push(`roles changed while work flowed: ${JSON.stringify(after.roles)}`);
    const result = await fleet.judge("two_coordinators", ids, [], { roles });
    result.violations.unshift(...violations);
    return result;
  } finally {
    await fleet.stop();
  }
}

/** kill -9 the active coordinator while work flows: the standby takes over within 5 s and finishes it all. */
export async function standbyTakeover({ log, runLog }: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog, coordinators: 2 });
  try {
    const violations: string[] = [];
    const { roles, active } = await checkRoles(fleet, violations);
    if (active < 0) throw new Error(`no coordinator reports role active: ${JSON.stringify(roles)}`);
    const standby = 1 - active;
    const { ids } = await fleet.submitWorkload(TASKS, 24, { durationMs: [100, 600] });
    await sleep(1500);
    const killedAt = Date.now();
    fleet.fleet.coordinators[active]?.signal("SIGKILL");
    const standbyUrl = fleet.fleet.coordinatorUrls[standby] as string;
    const tookOver = await pollUntil(15_000, 50, async () =>
      roleOf(await healthz(standbyUrl)) === "active" ? Date.now() : undefined,
    );
    const takeoverMs = tookOver === undefined ? null : tookOver - killedAt;
    if (takeoverMs === null)
      violations.push("the standby did not report role active within 15 s of the kill");
    else if (takeoverMs > TAKEOVER_GOAL_MS)
      violations.push(`takeover took ${takeoverMs} ms (goal <= ${TAKEOVER_GOAL_MS})`);
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const result = await fleet.judge("standby_takeover", ids, [killedAt], { takeover_ms: takeoverMs, roles });
    result.violations.unshift(...violations);
    return result;
  } finally {
    await fleet.stop();
  }
}

/** The scenarios of this file, by the name `pnpm test:faults` takes. */
export const COORDINATOR_SCENARIOS: Record<string, Scenario> = {
  coordinator_kill_in_declare_dead: coordinatorKillInDeclareDead,
  node_dies_while_coordinator_down: nodeDiesWhileCoordinatorDown,
  two_coordinators: twoCoordinators,
  standby_takeover: standbyTakeover,
};
