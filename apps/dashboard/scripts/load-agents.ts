/**
 * Simulated agents for the load command: `--count` agents in this one process, each a real agent
 * (`createAgent`) on its own WebSocket, with the machine measured once and shared, and a `sleep` call
 * handler that waits `payload.ms` instead of starting a process.
 */
import { parseArgs } from "node:util";
import { collectFingerprint, createAgent } from "@flotilla/node-agent";
import { pino } from "pino";

const { values } = parseArgs({
  options: {
    coordinator: { type: "string" },
    prefix: { type: "string", default: "sim" },
    first: { type: "string", default: "0" },
    count: { type: "string", default: "25" },
    slots: { type: "string", default: "4" },
  },
});
const fingerprint = await collectFingerprint();
const logger = pino({ level: "warn" }, pino.destination(2));
const first = Number(values.first);
const agents = Array.from({ length: Number(values.count) }, (_, index) =>
  createAgent({
    coordinatorUrl: String(values.coordinator),
    token: process.env.FLOTILLA_TOKEN ?? "",
    id: `${values.prefix}-${String(first + index).padStart(3, "0")}`,
    slots: Number(values.slots),
    labels: { zone: `z${(first + index) % 4}` },
    fingerprint,
    fingerprintRefreshMs: 0,
    logger,
    handlers: {
      sleep: async (payload) => {
        const ms =
          typeof payload === "object" && payload !== null ? Number((payload as { ms?: number }).ms) : 0;
        await new Promise((resolve) => setTimeout(resolve, Number.isFinite(ms) ? ms : 0));
        return null;
      },
    },
  }),
);
for (const agent of agents) await agent.start();
process.stdout.write(`load agents ${values.prefix}-${first}.. ready: ${agents.length} connected\n`);
process.on("SIGTERM", () => {
  void Promise.all(agents.map((agent) => agent.stop({ now: true }))).then(() => process.exit(0));
});
