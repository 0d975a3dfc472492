import { sampleExponential, sampleLogNormal, sampleNormal } from "../random.js";
import type { Priority, RandomSource } from "../types.js";
import type { SimNode, SimTask } from "./simulator.js";

/** Task-size distributions used by the bench and tests. */
export type WorkloadKind = "uniform" | "exponential" | "lognormal";

/**
 * `count` tasks all arriving at `arrivalAt` (a batch, for makespan), with sizes of mean about 1000 ms:
 * uniform on [500, 1500], exponential with mean 1000, or log-normal with sigma 1.5 (median 1000/e^1.125).
 */
export function batchWorkload(
  kind: WorkloadKind,
  count: number,
  random: RandomSource,
  arrivalAt = 0,
): SimTask[] {
  const tasks: SimTask[] = [];
  for (let i = 0; i < count; i++) {
    let work: number;
    if (kind === "uniform") work = 500 + random() * 1000;
    else if (kind === "exponential") work = sampleExponential(random, 1000);
    else work = sampleLogNormal(random, Math.log(1000) - 1.125, 1.5);
    tasks.push({ id: `t${i}`, arrivalAt, work: Math.max(1, work) });
  }
  return tasks;
}

/** `count` nodes with `slots` each; heterogeneous fleets cycle speeds 1x, 2x, 4x. */
export function fleet(count: number, heterogeneous: boolean, slots = 1): SimNode[] {
  const speeds = heterogeneous ? [1, 2, 4] : [1];
  return Array.from({ length: count }, (_, i) => ({
    id: `node-${i}`,
    speed: speeds[i % speeds.length] as number,
    slots,
  }));
}

/** Options of {@link poissonWorkload}. */
export interface PoissonWorkloadOptions {
  count: number;
  /** Mean time between arrivals (ms). */
  meanGapMs: number;
  /** Task-size distribution (mean about 1000 ms). */
  sizes: WorkloadKind;
  /** Probability of each priority (default all normal). */
  priorityMix?: Partial<Record<Priority, number>>;
  /** Share of tasks with a deadline `arrival + work × slack`, slack uniform in `slack` (default none). */
  deadlineShare?: number;
  slack?: [number, number];
  /** Relative error of estimates: estimate = work × exp(sigma × N(0,1)) (default 0: exact). */
  estimateErrorSigma?: number;
}

/** An open arrival process: Poisson arrivals, mixed priorities, optional deadlines and estimate errors. */
export function poissonWorkload(options: PoissonWorkloadOptions, random: RandomSource): SimTask[] {
  const sizes = batchWorkload(options.sizes, options.count, random);
  const mix = Object.entries(options.priorityMix ?? { normal: 1 }) as [Priority, number][];
  const totalWeight = mix.reduce((sum, [, weight]) => sum + weight, 0);
  const [slackLow, slackHigh] = options.slack ?? [2, 6];
  let arrivalAt = 0;
  return sizes.map((task) => {
    arrivalAt += sampleExponential(random, options.meanGapMs);
    let roll = random() * totalWeight;
    let priority: Priority = "normal";
    for (const [candidate, weight] of mix) {
      priority = candidate;
      roll -= weight;
      if (roll < 0) break;
    }
    const shaped: SimTask = { ...task, arrivalAt, priority };
    if (random() < (options.deadlineShare ?? 0)) {
      shaped.deadlineAt = arrivalAt + task.work * (slackLow + random() * (slackHigh - slackLow));
    }
    const sigma = options.estimateErrorSigma ?? 0;
    if (sigma > 0) shaped.estimatedMs = task.work * Math.exp(sigma * sampleNormal(random));
    return shaped;
  });
}
