import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createAgent, defaultSpawner } from "@flotilla/node-agent";
import { pino } from "pino";

/**
 * An agent started as a library, the way other repos use Flotilla as a job queue: a `noop` call handler
 * next to the usual exec support. Between two SIGUSR2s it watches its own event loop, then prints the delay.
 */
const { values } = parseArgs({
  options: { coordinator: { type: "string" }, id: { type: "string" }, slots: { type: "string" } },
  strict: false,
});
const delay = monitorEventLoopDelay({ resolution: 1 });
const agent = createAgent({
  coordinatorUrl: String(values.coordinator),
  token: process.env.FLOTILLA_TOKEN ?? "",
  id: String(values.id),
  slots: Number(values.slots ?? 2),
  ...(process.env.BENCH_PREFETCH ? { prefetch: Number(process.env.BENCH_PREFETCH) } : {}),
  logger: pino({ level: "warn" }, pino.destination(2)),
  handlers: { noop: async (payload) => payload ?? null },
});
await agent.start();
process.stdout.write(`bench agent ${agent.id} ready: connected\n`);
// The monitor's 1 ms timer is itself load on a small machine: it runs only between two SIGUSR2s (the
// first starts it, the second prints the figures and stops it), not during the other stages.
let measuring = false;
process.on("SIGUSR2", () => {
  measuring = !measuring;
  if (measuring) {
    delay.reset();
    delay.enable();
    return;
  }
  delay.disable();
  process.stdout.write(
    `${JSON.stringify({ agentLoopDelay: { id: agent.id, p99_ms: delay.percentile(99) / 1e6, max_ms: delay.max / 1e6, spawn_path: defaultSpawner().path } })}\n`,
  );
});
process.on("SIGTERM", () => {
  void agent.stop({ now: true }).then(() => process.exit(0));
});
