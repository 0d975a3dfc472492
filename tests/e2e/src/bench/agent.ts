import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createAgent } from "@flotilla/node-agent";
import { pino } from "pino";

/**
 * An agent started as a library, the way other repos use Flotilla as a job queue: a `noop` call handler
 * next to the usual exec support. It watches its own event loop and prints the delay figures on SIGTERM.
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
delay.enable();
process.stdout.write(`bench agent ${agent.id} ready: connected\n`);
process.on("SIGUSR2", () => {
  process.stdout.write(
    `${JSON.stringify({ agentLoopDelay: { id: agent.id, p99_ms: delay.percentile(99) / 1e6, max_ms: delay.max / 1e6 } })}\n`,
  );
  delay.reset();
});
process.on("SIGTERM", () => {
  void agent.stop({ now: true }).then(() => process.exit(0));
});
