import { sampleExponential, sampleLogNormal } from "../random.js";
import type { RandomSource } from "../types.js";
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
