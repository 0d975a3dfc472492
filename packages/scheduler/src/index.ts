/**
 * @flotilla/scheduler — pure scheduling algorithms: queues, placement, balancing strategies, work stealing,
 * circuit breakers, fleet metrics and a discrete-event simulator. No I/O; time and randomness are injected.
 */

/** The package's name, for log lines and version reports. */
export const PACKAGE_NAME = "@flotilla/scheduler";

export * from "./breaker/breaker.js";
export * from "./breaker/consecutive.js";
export * from "./breaker/count.js";
export * from "./ewma.js";
export * from "./metrics.js";
export * from "./placement/eligibility.js";
export * from "./placement/inference.js";
export * from "./queues/cfs.js";
export * from "./queues/edf.js";
export * from "./queues/heap.js";
export * from "./queues/multilevel.js";
export * from "./queues/score.js";
export * from "./queues/wfq.js";
export * from "./random.js";
export * from "./sim/simulator.js";
export * from "./sim/workloads.js";
export * from "./stealing.js";
export * from "./strategies/hash.js";
export * from "./strategies/index.js";
export * from "./strategies/simple.js";
export * from "./strategies/strategy.js";
export * from "./types.js";
