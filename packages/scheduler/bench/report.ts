/** Prints one JSON object per line, numbers rounded to 4 significant digits. */
export function emit(record: Record<string, unknown>): void {
  const rounded = Object.fromEntries(
    Object.entries(record).map(([key, value]) => [
      key,
      typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(4)) : value,
    ]),
  );
  process.stdout.write(`${JSON.stringify(rounded)}\n`);
}

/** Arithmetic mean. */
export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** Nanoseconds per operation of `run(iterations)`, best of `rounds` after a warm-up. */
export function nsPerOp(
  run: (iterations: number) => void,
  iterations: number,
  opsPerIteration = 1,
  rounds = 5,
): number {
  run(Math.min(iterations, 10_000));
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    run(iterations);
    const elapsed = Number(process.hrtime.bigint() - start);
    best = Math.min(best, elapsed / (iterations * opsPerIteration));
  }
  return best;
}
