import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type FlotillaClient, type NodeView } from "@flotilla/client";
import {
  type BinSpec,
  initFleetTls,
  type LocalAgentSpec,
  type LocalFleet,
  nodeBin,
  REDIS_MISSING_HINT,
  startLocalFleet,
} from "@flotilla/launcher";
import {
  FlotillaError,
  isFlotillaError,
  redactUrl,
  type TaskSpecInput,
  TERMINAL_STATES,
} from "@flotilla/protocol";
import type { CommandContext, CommandSpec } from "../cli.js";
import { EXIT } from "../exit-codes.js";
import { table } from "../format.js";

/** The fleet of DESIGN.md in miniature: the coordinator's own machine, the Linux box, a laptop. */
const DEMO_AGENTS: readonly LocalAgentSpec[] = [
  { id: "coordinator-node", slots: 2, labels: { role: "coordinator" } },
  { id: "linux-box", slots: 3, labels: { docker: "true", heavy: "true", os: "linux" } },
  { id: "laptop", slots: 2, labels: { light: "true" } },
];
/** Which agent the demo kills midway, and when it brings it back. */
const VICTIM = "linux-box";
const KILL_AT_FRACTION = 0.2;
const REVIVE_AFTER_MS = 2500;

/** A named piece of the showcase workload. */
interface DemoTask {
  label: string;
  spec: TaskSpecInput;
}

/** CPU-bound shell loop: a stand-in for a compile step that needs no toolchain on the machine. */
function busyLoop(iterations: number, message: string): string {
  return `i=0; while [ $i -lt ${iterations} ]; do i=$((i+1)); done; echo "${message}"`;
}

/** The showcase: heavy "builds", "test" runs, light "docs" jobs, a deadline task and a critical one. */
export function demoWorkload(now: number): DemoTask[] {
  const tasks: DemoTask[] = [];
  for (let i = 1; i <= 6; i += 1) {
    tasks.push({
      label: `build ${i}`,
      spec: {
        kind: "exec",
        shell: `echo "compiling module ${i}"; sleep 1.${2 * (i % 4)}; ${busyLoop(30_000, `module ${i} built`)}`,
        needs: { heavy: true },
        submitter: "ci",
      },
    });
  }
  for (let i = 1; i <= 14; i += 1) {
    tasks.push({
      label: `test shard ${i}`,
      spec: {
        kind: "exec",
        shell: `echo "running shard ${i}"; sleep 0.${3 + (i % 6)}; echo "shard ${i}: ok"`,
        submitter: "dev",
      },
    });
  }
  for (let i = 1; i <= 8; i += 1) {
    tasks.push({
      label: `docs ${i}`,
      spec: {
        kind: "exec",
        shell: `sleep 0.${2 + (i % 5)}; echo "page ${i}: $(echo the quick brown fox | wc -w) words"`,
        needs: { light: true },
        priority: "low",
        submitter: "docs",
      },
    });
  }
  tasks.push({
    label: "release notes (deadline)",
    spec: {
      kind: "exec",
      shell: "sleep 0.5; echo 'release notes ready'",
      deadlineAt: now + 30_000,
      estimatedMs: 600,
      priority: "high",
    },
  });
  tasks.push({
    label: "hotfix (critical)",
    spec: { kind: "exec", shell: "sleep 0.3; echo 'hotfix deployed'", priority: "critical" },
  });
  return tasks;
}

/**
 * Where `flotilla-coordinator` and `flotilla-agent` are, next to this CLI (sources in a checkout, dist when
 * built). The CLI does not depend on them: only a machine that runs the demo needs them installed.
 */
function siblingBin(packageName: "@flotilla/coordinator" | "@flotilla/node-agent"): BinSpec {
  let resolved: string;
  try {
    resolved = import.meta.resolve(packageName);
  } catch {
    throw new FlotillaError(
      "E_CONFIG",
      `flotilla demo runs ${packageName} on this machine: install it beside the CLI (npm i -g ${packageName}), or run the demo from a checkout (pnpm demo)`,
    );
  }
  const entry = fileURLToPath(resolved).replace(/index\.(ts|js)$/, "main.$1");
  return nodeBin(entry, entry.endsWith(".ts") ? import.meta.resolve("tsx") : undefined);
}

interface TaskTrack {
  label: string;
  submittedAt: number;
  state: string;
  node: string | undefined;
  finishedAt: number | undefined;
  reroutes: number;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATES);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** `flotilla demo`: a whole fleet on this machine, real work, an agent killed midway, a summary. */
export const demoCommand: CommandSpec = {
  name: "demo",
  summary:
    "start a local fleet (Redis, coordinator, 3 agents), run real work, kill an agent midway, summarise",
  usage: "flotilla demo [--keep] [--tls]",
  options: {
    keep: { type: "boolean", description: "leave the fleet running afterwards and print its URL and token" },
    tls: {
      type: "boolean",
      description: "over wss:// with a private CA made by init-tls, certificates verified",
    },
  },
  args: { min: 0, max: 0 },
  examples: [
    "flotilla demo",
    "flotilla demo --tls",
    "flotilla demo --keep   # then: flotilla --url ... --token ... nodes",
  ],
  details:
    "Uses REDIS_URL when set; otherwise starts its own redis-server (append-only file on) in a temporary directory.\n" +
    "With --tls, `flotilla-coordinator init-tls` makes a CA and a certificate for localhost and 127.0.0.1 in a\n" +
    "temporary directory; the coordinator serves wss:// with it, the agents and this command trust that CA\n" +
    "alone, and a client without the CA is shown being refused. The directory is removed at the end.\n" +
    "Every process it starts is stopped at the end, and on Ctrl-C.",
  async run(context) {
    return await runDemo(context);
  },
};

async function runDemo(context: CommandContext): Promise<number> {
  const started = context.now();
  const tty = context.io.stdout.isTTY === true;
  const say = (line: string): void => context.out(`${line}\n`);
  const useTls = context.values.tls === true;
  say(
    `flotilla demo: starting Redis, a coordinator and 3 agents on this machine${useTls ? ", over wss://" : ""}…`,
  );
  let fleet: LocalFleet | undefined;
  let tlsDir: string | undefined;
  let interrupted = false;
  const cleanUp = async (): Promise<void> => {
    await fleet?.stop();
    if (tlsDir !== undefined) await rm(tlsDir, { recursive: true, force: true });
  };
  const shutDown = (): void => {
    if (interrupted) return;
    interrupted = true;
    say("\ninterrupted: stopping every process the demo started…");
    void cleanUp().finally(() => process.exit(EXIT.INTERRUPTED));
  };
  const stopCtrlC = context.onInterrupt(shutDown);
  // A terminal closing or a `kill` stops the fleet too (any other exit kills the children outright).
  process.once("SIGTERM", shutDown);
  process.once("SIGHUP", shutDown);
  const stopInterrupt = (): void => {
    stopCtrlC();
    process.off("SIGTERM", shutDown);
    process.off("SIGHUP", shutDown);
  };
  try {
    try {
      const coordinatorBin = siblingBin("@flotilla/coordinator");
      const options: Parameters<typeof startLocalFleet>[0] = {
        coordinatorBin,
        agentBin: siblingBin("@flotilla/node-agent"),
        agents: DEMO_AGENTS,
        // Every agent here shares one machine and so one load average: the per-node load threshold would
        // say nothing about the nodes, so the demo lifts it and balances on slots and queues alone.
        coordinatorArgs: [
          "--log-level",
          "warn",
          "--fallback-node",
          "coordinator-node",
          "--load-threshold",
          "1000",
        ],
      };
      const redisUrl = context.io.env.REDIS_URL;
      if (redisUrl) options.redisUrl = redisUrl;
      if (useTls) {
        tlsDir = await mkdtemp(join(tmpdir(), "flotilla-demo-tls-"));
        options.tls = await initFleetTls(coordinatorBin, tlsDir);
        say(`init-tls: a private CA and a certificate for localhost and 127.0.0.1 in ${tlsDir}`);
      }
      fleet = await startLocalFleet(options);
    } catch (error) {
      const message = (error as Error).message;
      if (message === REDIS_MISSING_HINT) throw new FlotillaError("E_CONFIG", message);
      throw new FlotillaError("E_INTERNAL", `the local fleet did not start: ${message}`);
    }
    say(
      `fleet up in ${((context.now() - started) / 1000).toFixed(1)} s: coordinator ${fleet.url}, Redis ${
        fleet.redis ? `${fleet.redis.url} (AOF in ${fleet.redis.dir})` : redactUrl(fleet.redisUrl)
      }`,
    );
    const ca = fleet.caFile === undefined ? undefined : await readFile(fleet.caFile, "utf8");
    if (ca !== undefined && !(await refusedWithoutCa(fleet, say))) return EXIT.FAILED;
    const client = await connect({ url: fleet.url, token: fleet.token, ...(ca === undefined ? {} : { ca }) });
    try {
      const code = await showcase(context, client, fleet, tty);
      say(`demo finished in ${((context.now() - started) / 1000).toFixed(1)} s`);
      if (context.values.keep === true && !interrupted) {
        say("");
        say("the fleet keeps running (Ctrl-C stops it). Try:");
        say(
          `  export FLOTILLA_URL=${fleet.url} FLOTILLA_TOKEN=${fleet.token}${
            fleet.caFile === undefined ? "" : ` FLOTILLA_CA=${fleet.caFile}`
          }`,
        );
        say("  flotilla nodes");
        say("  flotilla run -- uname -a");
        await new Promise<void>(() => {});
      }
      return code;
    } finally {
      client.close();
    }
  } finally {
    stopInterrupt();
    if (!interrupted) await cleanUp();
  }
}

/**
 * Dials the `wss://` fleet as a client that was not given its CA: the certificate must be refused with
 * `E_CONFIG` saying to pass `--ca`. Says what happened; false when the dial was not refused so.
 */
async function refusedWithoutCa(fleet: LocalFleet, say: (line: string) => void): Promise<boolean> {
  try {
    const stray = await connect({ url: fleet.url, token: fleet.token, reconnect: false });
    stray.close();
    say("!!! a client without the CA was let in: certificate verification is off");
    return false;
  } catch (error) {
    if (isFlotillaError(error) && error.code === "E_CONFIG") {
      say(`a client without the CA is refused: ${error.message}`);
      return true;
    }
    say(`!!! a client without the CA failed otherwise: ${(error as Error).message}`);
    return false;
  }
}

async function showcase(
  context: CommandContext,
  client: FlotillaClient,
  fleet: LocalFleet,
  tty: boolean,
): Promise<number> {
  const say = (line: string): void => context.out(`${line}\n`);
  const tracks = new Map<string, TaskTrack>();
  const events = client.events();
  const watching = (async () => {
    for await (const message of events) {
      if (message.type !== "task.event") continue;
      const track = tracks.get(message.taskId);
      if (!track) continue;
      if ((message.state === "queued" || message.state === "waiting") && message.reason?.includes("died"))
        track.reroutes += 1;
      track.state = message.state;
      if (message.node !== undefined) track.node = message.node;
      if (TERMINAL.has(message.state)) track.finishedAt = message.at;
    }
  })();
  watching.catch(() => {});

  const workload = demoWorkload(context.now());
  say(
    `submitting ${workload.length} tasks: 6 builds (need heavy), 14 test shards, 8 docs jobs (need light), a deadline task, a critical hotfix`,
  );
  const handles = await Promise.all(
    workload.map(async (task) => {
      const handle = await client.submit(task.spec);
      tracks.set(handle.id, {
        label: task.label,
        submittedAt: context.now(),
        state: "queued",
        node: undefined,
        finishedAt: undefined,
        reroutes: 0,
      });
      return handle;
    }),
  );

  let killed = false;
  let revived = false;
  let killedAt = 0;
  let lastLines = 0;
  let lastPrinted = "";
  let lastPrintedAt = 0;
  const deadline = context.now() + 50_000;
  for (;;) {
    const done = [...tracks.values()].filter((track) => TERMINAL.has(track.state)).length;
    const nodes = await client.nodes();
    if (!killed && done >= workload.length * KILL_AT_FRACTION) {
      killed = true;
      killedAt = context.now();
      fleet.agents.get(VICTIM)?.signal("SIGKILL");
      say(
        `>>> kill -9 ${VICTIM} (${done}/${workload.length} done): its running work is requeued on the nodes that can take it`,
      );
      lastLines = 0;
    }
    if (killed && !revived && context.now() - killedAt >= REVIVE_AFTER_MS) {
      revived = true;
      say(`>>> ${VICTIM} restarts and rejoins; work that needs it resumes`);
      lastLines = 0;
      await fleet.startAgent(DEMO_AGENTS.find((agent) => agent.id === VICTIM) as LocalAgentSpec);
    }
    const view = progressView(nodes, tracks, done, workload.length);
    if (tty) {
      if (lastLines > 0) context.io.stdout.write(`\u001b[${lastLines}A\u001b[J`);
      context.io.stdout.write(`${view.join("\n")}\n`);
      lastLines = view.length;
    } else {
      // Not a terminal: one plain line whenever the picture changed, at most once a second.
      const line = view.join("\n");
      if (line !== lastPrinted && context.now() - lastPrintedAt >= 1000) {
        say(line);
        lastPrinted = line;
        lastPrintedAt = context.now();
      }
    }
    if (done === workload.length || context.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  // The record in Redis is the truth: read every task back.
  const results = await Promise.all(handles.map((handle) => handle.result()));
  const nodes = await client.nodes();
  const latencies = [...tracks.values()]
    .filter((track) => track.finishedAt !== undefined)
    .map((track) => (track.finishedAt as number) - track.submittedAt)
    .sort((a, b) => a - b);
  const lost = results.filter((result) => !TERMINAL.has(result.state)).length;
  const failed = results.filter((result) => result.state !== "succeeded");
  const perNode = new Map<string, number>();
  for (const result of results) {
    if (result.state === "succeeded" && result.record.node) {
      perNode.set(result.record.node, (perNode.get(result.record.node) ?? 0) + 1);
    }
  }
  say("");
  say(
    table(
      ["NODE", "LABELS", "TASKS", "STEALS", "REROUTED AWAY"],
      nodes.map((node) => {
        const stats = node.stats;
        return [
          node.id,
          Object.entries(node.labels)
            .map(([key, value]) => `${key}=${value}`)
            .join(",") || "-",
          String(perNode.get(node.id) ?? 0),
          String(stats?.steals ?? 0),
          String(stats?.reroutes ?? 0),
        ];
      }),
    ).trimEnd(),
  );
  const rerouted = [...tracks.values()].filter((track) => track.reroutes > 0).length;
  const hotfix = results.find((result) => tracks.get(result.id)?.label === "hotfix (critical)");
  say("");
  say(
    `tasks: ${results.length} accepted, ${results.length - failed.length} succeeded, ${rerouted} rerouted after the kill`,
  );
  say(`latency submit->done: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
  if (hotfix) say(`critical hotfix ran on ${hotfix.record.node} and finished ${hotfix.state}`);
  say(`anything lost: ${lost}`);
  for (const result of failed) {
    say(
      `  ${tracks.get(result.id)?.label ?? result.id}: ${result.state}${result.error ? ` (${result.error.message})` : ""}`,
    );
  }
  return lost === 0 && failed.length === 0 ? EXIT.OK : EXIT.FAILED;
}

/** The live view: one line per node, then the overall line. */
function progressView(
  nodes: readonly NodeView[],
  tracks: ReadonlyMap<string, TaskTrack>,
  done: number,
  total: number,
): string[] {
  const lines: string[] = [];
  for (const node of nodes) {
    const finishedHere = [...tracks.values()].filter(
      (track) => track.node === node.id && track.state === "succeeded",
    ).length;
    const health = node.health === "healthy" ? "" : `  [${node.health}]`;
    lines.push(
      `  ${node.id.padEnd(17)} running ${String(node.slotsUsed).padStart(2)}/${node.slotsTotal}  queued ${String(node.queued).padStart(2)}  done ${String(finishedHere).padStart(2)}${health}`,
    );
  }
  const waiting = [...tracks.values()].filter((track) => track.state === "waiting").length;
  const width = 30;
  const filled = Math.round((done / Math.max(1, total)) * width);
  lines.push(
    `  [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} done${waiting > 0 ? `, ${waiting} waiting for a capable node` : ""}`,
  );
  return lines;
}
