import {
  BinaryHeap,
  type DeadlineEntry,
  EdfQueue,
  jainIndex,
  MultilevelQueue,
  type Priority,
  sampleExponential,
  sampleNormal,
  seededRandom,
  WeightedFairQueue,
} from "../src/index.js";
import { emit, nsPerOp } from "./report.js";

/**
 * EDF with admission on one server at 90% offered load. Poisson arrivals, exponential estimates (mean
 * 100 ms), deadlines `arrival + estimate × slack` with slack uniform in [1.5, 8]; actual run times are the
 * estimate times a log-normal error (sigma 0.1), so estimates hold only roughly.
 */
export function benchEdf(tasks = 50_000): void {
  const random = seededRandom(42);
  const meanMs = 100;
  const utilisation = 0.9;
  const queue = new EdfQueue<DeadlineEntry & { actualMs: number }>();
  let arrivalAt = 0;
  let serverFreeAt = 0;
  let admitted = 0;
  let hits = 0;
  let finished = 0;
  const arrivals: { at: number; task: DeadlineEntry & { actualMs: number } }[] = [];
  for (let i = 0; i < tasks; i++) {
    arrivalAt += sampleExponential(random, meanMs / utilisation);
    const estimatedMs = sampleExponential(random, meanMs);
    const slack = 1.5 + random() * 6.5;
    const error = Math.exp(0.1 * sampleNormal(random));
    arrivals.push({
      at: arrivalAt,
      task: {
        id: `t${i}`,
        estimatedMs,
        deadlineAt: arrivalAt + estimatedMs * slack,
        actualMs: estimatedMs * error,
      },
    });
  }
  let next = 0;
  let now = 0;
  while (next < arrivals.length || queue.size > 0) {
    const arrival = arrivals[next];
    if (arrival !== undefined && (queue.size === 0 || arrival.at <= serverFreeAt)) {
      now = Math.max(now, arrival.at);
      if (queue.submit(arrival.task, arrival.at).admitted) admitted++;
      next++;
      continue;
    }
    now = Math.max(now, serverFreeAt);
    const task = queue.pop(now);
    if (task === undefined) break;
    serverFreeAt = now + task.actualMs;
    queue.complete(serverFreeAt);
    finished++;
    if (serverFreeAt <= task.deadlineAt) hits++;
  }
  emit({
    bench: "edf",
    utilisation,
    admitted_deadline_hit_ratio: hits / Math.max(1, finished),
    admitted_ratio: admitted / tasks,
    estimate_error_sigma: 0.1,
  });
}

/** Three always-backlogged submitters with weights 1, 2, 3 and random item costs; Jain over service/weight. */
export function benchWfq(): void {
  const weights = [1, 2, 3];
  const random = seededRandom(7);
  const names = ["a", "b", "c"];
  const served = [0, 0, 0];
  const queued = [0, 0, 0];
  const fair = new WeightedFairQueue<{ submitter: number; cost: number }>({ weights: { a: 1, b: 2, c: 3 } });
  // Keep every submitter backlogged: top each up to 50 queued items, costs exponential with mean 100.
  const top = (i: number): void => {
    while ((queued[i] as number) < 50) {
      const cost = sampleExponential(random, 100);
      fair.enqueue(names[i] as string, { submitter: i, cost }, cost);
      queued[i] = (queued[i] as number) + 1;
    }
  };
  for (let i = 0; i < 3; i++) top(i);
  for (let step = 0; step < 200_000; step++) {
    const out = fair.dequeue();
    if (out === undefined) break;
    const i = out.item.submitter;
    served[i] = (served[i] as number) + out.item.cost;
    queued[i] = (queued[i] as number) - 1;
    top(i);
  }
  emit({
    bench: "wfq",
    weights,
    jain_index: jainIndex(served.map((value, i) => value / (weights[i] as number))),
  });
}

/**
 * The aging bound under saturation: one dispatch per 10 ms tick, two high tasks arriving per tick (more than
 * can be served), normal and low tasks arriving at random with their overdue moments spaced one tick apart
 * (the bound's precondition). Reports the worst low wait over `maxWaitMs.low + tick`.
 */
export function benchAging(ticks = 200_000): void {
  const tick = 10;
  const maxWaitMs = { high: Number.POSITIVE_INFINITY, normal: 30_000, low: 60_000 };
  const queue = new MultilevelQueue<{ priority: Priority; enqueuedAt: number }>({ maxWaitMs });
  const random = seededRandom(11);
  const overdue = new Set<number>();
  let worstLow = 0;
  let worstNormal = 0;
  for (let step = 0; step < ticks; step++) {
    const now = step * tick;
    queue.push({ priority: "high", enqueuedAt: now });
    queue.push({ priority: "high", enqueuedAt: now });
    const roll = random();
    const kind = roll < 0.3 ? "low" : roll < 0.6 ? "normal" : undefined;
    if (kind !== undefined && !overdue.has(now + maxWaitMs[kind])) {
      overdue.add(now + maxWaitMs[kind]);
      queue.push({ priority: kind, enqueuedAt: now });
    }
    const out = queue.dequeue(now);
    if (out?.priority === "low") worstLow = Math.max(worstLow, now - out.enqueuedAt);
    if (out?.priority === "normal") worstNormal = Math.max(worstNormal, now - out.enqueuedAt);
  }
  emit({
    bench: "aging",
    max_low_wait_over_bound: worstLow / (maxWaitMs.low + tick),
    max_normal_wait_over_bound: worstNormal / (maxWaitMs.normal + tick),
    max_low_wait_ms: worstLow,
    bound_ms: maxWaitMs.low + tick,
  });
}

/** Steady-state push+pop cost at a given queue size (each push and each pop counts as one op). */
export function benchOps(): void {
  const priorities: Priority[] = ["critical", "high", "normal", "low"];
  for (const queued of [10, 1_000, 100_000]) {
    const random = seededRandom(queued);
    const keys = Float64Array.from({ length: 1 << 16 }, () => random());
    const heap = new BinaryHeap<number>((a, b) => a - b);
    for (let i = 0; i < queued; i++) heap.push(keys[i & 0xffff] as number);
    let k = 0;
    const heapNs = nsPerOp(
      (iterations) => {
        for (let i = 0; i < iterations; i++) {
          heap.push((keys[k++ & 0xffff] as number) + k);
          heap.pop();
        }
      },
      1_000_000,
      2,
    );
    emit({
      bench: "ops",
      structure: "binary_heap",
      queued,
      ns_per_op: heapNs,
      ops_per_s: Math.round(1e9 / heapNs),
    });

    const multilevel = new MultilevelQueue<{ priority: Priority; enqueuedAt: number }>();
    let now = 0;
    const entries = Array.from({ length: 1 << 12 }, (_, i) => ({
      priority: priorities[i % 7 === 0 ? 0 : 1 + (i % 3)] as Priority,
      enqueuedAt: 0,
    }));
    for (let i = 0; i < queued; i++)
      multilevel.push({ ...(entries[i & 0xfff] as { priority: Priority }), enqueuedAt: now++ });
    const mlNs = nsPerOp(
      (iterations) => {
        for (let i = 0; i < iterations; i++) {
          const entry = entries[i & 0xfff] as { priority: Priority; enqueuedAt: number };
          multilevel.push({ priority: entry.priority, enqueuedAt: now++ });
          multilevel.dequeue(now);
        }
      },
      1_000_000,
      2,
    );
    emit({
      bench: "ops",
      structure: "multilevel_queue",
      queued,
      ns_per_op: mlNs,
      ops_per_s: Math.round(1e9 / mlNs),
    });
  }
}
