import { parseArgs } from "node:util";
import { createAgent } from "@flotilla/node-agent";
import { pino } from "pino";

/**
 * Several agents in one process for the scale bench (`scale.ts`): `--count N` agents named `<id>-1` …
 * `<id>-N`, each with its own WebSocket connection and heartbeat, one slot and nothing held ahead (so the
 * coordinator decides every dispatch when a slot frees up). Their one call handler, `hold`, waits at a
 * gate while it is closed, and runs for `--task-ms` while it is open.
 *
 * SIGUSR1 opens the gate; the first task started after that prints a `scaleFirstStart` line (its wall-clock
 * time). SIGUSR2 closes the gate and prints one `scaleAgents` line: the dispatch samples since the gate
 * opened (for each agent, from the end of one task to the start of its next, in ms: the finish report, the
 * coordinator's lease of the next queued task and the assignment).
 */
const { values } = parseArgs({
  options: {
    coordinator: { type: "string" },
    id: { type: "string" },
    slots: { type: "string" },
    count: { type: "string" },
    "task-ms": { type: "string" },
  },
  strict: false,
});
const count = Number(values.count ?? 1);
const taskMs = Number(values["task-ms"] ?? 0);

let open = false;
let release: () => void = () => {};
let gate = new Promise<void>((resolve) => {
  release = resolve;
});
let samples: number[] = [];
let firstStart: number | undefined;

/** One agent's `hold` handler: a sample per task started while the gate is open. */
function holdHandler(): () => Promise<null> {
  let lastEnd: number | undefined;
  return async () => {
    const started = performance.now();
    if (open) {
      if (firstStart === undefined) {
        firstStart = Date.now();
        process.stdout.write(`${JSON.stringify({ scaleFirstStart: firstStart })}\n`);
      }
      if (lastEnd !== undefined) samples.push(started - lastEnd);
    }
    if (!open) {
      lastEnd = undefined;
      await gate;
    } else if (taskMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, taskMs));
    }
    lastEnd = performance.now();
    return null;
  };
}

const logger = pino({ level: "warn" }, pino.destination(2));
const agents: ReturnType<typeof createAgent>[] = [];
for (let index = 1; index <= count; index += 1) {
  agents.push(
    createAgent({
      coordinatorUrl: String(values.coordinator),
      token: process.env.FLOTILLA_TOKEN ?? "",
      id: `${String(values.id)}-${index}`,
      slots: 1,
      prefetch: 0,
      logger,
      handlers: { hold: holdHandler() },
    }),
  );
}
await Promise.all(agents.map((agent) => agent.start()));
process.stdout.write(`scale agents ${String(values.id)} (${count}) ready: connected\n`);

process.on("SIGUSR1", () => {
  if (open) return;
  open = true;
  samples = [];
  firstStart = undefined;
  release();
});
process.on("SIGUSR2", () => {
  if (open) {
    open = false;
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
  }
  process.stdout.write(`${JSON.stringify({ scaleAgents: { samples: samples.map(round) } })}\n`);
  samples = [];
});
process.on("SIGTERM", () => {
  release();
  void Promise.all(agents.map((agent) => agent.stop({ now: true }))).then(() => process.exit(0));
});

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
