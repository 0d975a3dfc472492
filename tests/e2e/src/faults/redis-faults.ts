import { FaultFleet, seeded, sleep } from "./harness.js";
import {
  healthz,
  pollUntil,
  type Scenario,
  type ScenarioContext,
  type ScenarioResult,
  THREE_AGENTS,
} from "./probes.js";

/**
 * Scenarios where the coordinator's Redis misbehaves: its link cut and restored many times (through the
 * harness's TCP proxy), Redis restarted empty, and faults during submission. As in the other files every
 * wait is bounded, so a coordinator without the feature under test fails with a reason.
 */

const FINISH_WITHIN_MS = 60_000;
/** An emptied Redis must be noticed this soon after it is back. */
const DETECT_GOAL_MS = 2000;
/** Waiting clients must hear of the loss this soon after it is detected. */
const SETTLE_AFTER_DETECTION_MS = 5000;

/** Running sets left with members once everything finished, waiting up to 5 s for the last reports. */
async function checkStranded(fleet: FaultFleet, violations: string[]): Promise<number> {
  let stranded: Record<string, string[]> = {};
  await pollUntil(5000, 250, async () => {
    stranded = await fleet.strandedRuns();
    return Object.keys(stranded).length === 0 ? true : undefined;
  });
  const count = Object.values(stranded).reduce((sum, members) => sum + members.length, 0);
  for (const [key, members] of Object.entries(stranded)) {
    violations.push(`${key} still holds ${members.join(", ")} after every task finished`);
  }
  return count;
}

/**
 * The coordinator's Redis link cut 7 times for 200-1500 ms while 300 short tasks are submitted and run;
 * before two cuts in three, Redis's replies are dropped for 300 ms while commands still reach it.
 */
export async function redisLinkCut({ log, runLog }: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog, redisProxy: true });
  const proxy = fleet.proxy;
  if (!proxy) throw new Error("the fleet has no Redis proxy");
  try {
    const random = seeded(31);
    const cutTimes: number[] = [];
    let cutMs = 0;
    const cutting = (async () => {
      for (let round = 0; round < 7; round += 1) {
        await sleep(400 + Math.floor(random() * 500));
        const length = 200 + Math.floor(random() * 1301);
        cutTimes.push(Date.now());
        // Two cuts in three first let commands through without their replies: the resend case.
        if (round % 3 !== 0) {
          proxy.loseReplies();
          await sleep(300);
        }
        proxy.cut();
        await sleep(length);
        proxy.resume();
        cutMs += length;
      }
    })();
    const submitting = fleet.submitWorkload(300, 31, {
      durationMs: [10, 150],
      spreadOverMs: 8000,
      tolerateErrors: true,
    });
    const [{ ids, rejected }] = await Promise.all([submitting, cutting]);
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    const violations: string[] = [];
    const stranded = await checkStranded(fleet, violations);
    const result = await fleet.judge("redis_link_cut", ids, cutTimes, {
      cuts: proxy.cuts,
      cut_ms: cutMs,
      rejected,
      stranded,
    });
    result.violations.push(...violations);
    return result;
  } finally {
    await fleet.stop();
  }
}

/**
 * Redis restarted empty on the same port while clients wait for results: the coordinator must say so
 * within 2 s of the new Redis being up (`/healthz` not ok naming the emptied Redis, or a `redis.emptied`
 * event), and the waiting clients get an answer instead of hanging. The lost tasks are Redis's loss, not
 * the fleet's: only tasks acknowledged after the detection count as accepted.
 */
export async function redisEmptied({ log, runLog }: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog });
  try {
    const violations: string[] = [];
    const before = await fleet.submitWorkload(60, 41, { durationMs: [1500, 3000] });
    const pending = new Set(before.handles.map((handle) => handle.id));
    let rejectedResults = 0;
    for (const handle of before.handles) {
      handle.result().then(
        () => pending.delete(handle.id),
        () => {
          rejectedResults += 1;
          pending.delete(handle.id);
        },
      );
    }
    await sleep(1500);
    await fleet.redisServer.kill();
    await fleet.redisServer.restart({ empty: true });
    const upAt = Date.now();
    const url = fleet.fleet.coordinatorUrls[0] as string;
    let healthBody: unknown = null;
    const detectedAt = await pollUntil(5000, 50, async () => {
      if (fleet.events.some((event) => event.type === "redis.emptied" && event.at >= upAt - 1000)) {
        return Date.now();
      }
      const health = await healthz(url);
      healthBody = health.body;
      const said = JSON.stringify(health.body ?? {});
      return health.body?.ok === false && /empt|generation/i.test(said) ? Date.now() : undefined;
    });
    const detectedMs = detectedAt === undefined ? null : detectedAt - upAt;
    if (detectedMs === null) {
      violations.push(
        `the emptied Redis was not reported within 5 s (last /healthz: ${JSON.stringify(healthBody)})`,
      );
    } else if (detectedMs > DETECT_GOAL_MS) {
      violations.push(`the emptied Redis was reported after ${detectedMs} ms (goal <= ${DETECT_GOAL_MS})`);
    }
    await pollUntil(SETTLE_AFTER_DETECTION_MS + (detectedAt ?? upAt) - Date.now(), 50, () =>
      pending.size === 0 ? true : undefined,
    );
    if (pending.size > 0) {
      violations.push(
        `${pending.size} waiting results still unanswered ${SETTLE_AFTER_DETECTION_MS} ms after detection`,
      );
    }
    const after = await fleet.submitWorkload(30, 42, { durationMs: [10, 200], tolerateErrors: true });
    await fleet.waitTerminal(after.ids, FINISH_WITHIN_MS);
    const result = await fleet.judge("redis_emptied", after.ids, [], {
      detected_ms: detectedMs,
      waiting_before: before.ids.length,
      waiting_rejected: rejectedResults,
      waiting_unanswered: pending.size,
      rejected: after.rejected,
    });
    result.violations.unshift(...violations);
    return result;
  } finally {
    await fleet.stop();
  }
}

/**
 * 300 submits started over 4 s while the coordinator is killed -9 and started again, then its Redis link
 * is cut for a second: every submit that was acknowledged with a task id must run and succeed.
 */
export async function submitUnderFault({ log, runLog }: ScenarioContext): Promise<ScenarioResult> {
  const fleet = await FaultFleet.start({ agents: THREE_AGENTS, log, runLog, redisProxy: true });
  const proxy = fleet.proxy;
  if (!proxy) throw new Error("the fleet has no Redis proxy");
  try {
    const faultTimes: number[] = [];
    const faults = (async () => {
      await sleep(600);
      faultTimes.push(Date.now());
      fleet.fleet.coordinator.signal("SIGKILL");
      await fleet.fleet.coordinator.exited;
      await sleep(300);
      await fleet.fleet.restartCoordinator();
      await sleep(500);
      faultTimes.push(Date.now());
      proxy.cut();
      await sleep(1000);
      proxy.resume();
    })();
    const submitting = fleet.submitWorkload(300, 51, {
      durationMs: [10, 300],
      spreadOverMs: 4000,
      tolerateErrors: true,
    });
    const [{ ids, rejected }] = await Promise.all([submitting, faults]);
    await fleet.waitTerminal(ids, FINISH_WITHIN_MS);
    return await fleet.judge("submit_under_fault", ids, faultTimes, { submitted: 300, rejected });
  } finally {
    await fleet.stop();
  }
}

/** The scenarios of this file, by the name `pnpm test:faults` takes. */
export const REDIS_SCENARIOS: Record<string, Scenario> = {
  redis_link_cut: redisLinkCut,
  redis_emptied: redisEmptied,
  submit_under_fault: submitUnderFault,
};
