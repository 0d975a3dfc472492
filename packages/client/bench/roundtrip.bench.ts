/**
 * The client's own CPU cost of a task's round trip: `submit()` then `result()`, many in flight, against a
 * {@link FakeCoordinator} in a child process that ends each task as soon as it is accepted (so the
 * figure is the SDK's work, not a fleet's). Prints one JSON line per mode:
 * `{"bench":"client.roundtrip","mode":"wait","tasks":N,"in_flight":W,"cpu_us_per_task":N,"tasks_per_s":N}`.
 * `wait` is the default submit (the outcome pushed as `task.done`), `watch` is `submit(spec, { wait: false })`
 * (a watch, then a lookup). Best of several rounds, so a busy neighbour skews the figure less.
 *
 * `pnpm --filter @flotilla/client bench [--tasks N] [--rounds N] [--in-flight N] [--mode wait|watch]`
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connect } from "../src/client.js";
import { FakeCoordinator } from "../src/testing.js";

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

if (process.argv.includes("--serve")) {
  // The coordinator double: every task runs and succeeds on the next turn.
  const fake = await FakeCoordinator.start({
    runner: (task, coordinator) =>
      setImmediate(() => {
        coordinator.setState(task.id, "running", { node: "fake-node", startedAt: Date.now() });
        coordinator.setState(task.id, "succeeded", { exitCode: 0, signal: null, durationMs: 0 });
      }),
  });
  process.stdout.write(`${fake.url}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void fake.close().then(() => process.exit(0)));
} else {
  const tasks = flag("--tasks", 5000);
  const rounds = flag("--rounds", 3);
  const inFlight = flag("--in-flight", 64);
  const server = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--serve"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    server.once("error", reject);
    createInterface({ input: server.stdout }).once("line", resolve);
  });
  const client = await connect({ url, requestTimeoutMs: 120_000 });
  const spec = { kind: "call", handler: "noop" } as const;
  const run = async (wait: boolean, count: number): Promise<{ cpuUs: number; seconds: number }> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        next += 1;
        const result = await (await client.submit(spec, { wait })).result();
        if (result.state !== "succeeded") throw new Error(`a task ended ${result.state}`);
      }
    };
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, worker));
    const used = process.cpuUsage(cpu);
    return { cpuUs: used.user + used.system, seconds: (performance.now() - started) / 1000 };
  };
  try {
    const only = process.argv[process.argv.indexOf("--mode") + 1];
    const modes = (["wait", "watch"] as const).filter(
      (mode) => !process.argv.includes("--mode") || mode === only,
    );
    for (const mode of modes) {
      const wait = mode === "wait";
      await run(wait, 1000);
      let best: { cpuUs: number; seconds: number } | undefined;
      for (let round = 0; round < rounds; round += 1) {
        const measured = await run(wait, tasks);
        if (best === undefined || measured.cpuUs < best.cpuUs) best = measured;
      }
      if (best === undefined) continue;
      process.stdout.write(
        `${JSON.stringify({
          bench: "client.roundtrip",
          mode,
          tasks,
          in_flight: inFlight,
          cpu_us_per_task: Number((best.cpuUs / tasks).toFixed(1)),
          tasks_per_s: Math.round(tasks / best.seconds),
        })}\n`,
      );
    }
  } finally {
    client.close();
    server.stdin?.end();
  }
}
