import { fileURLToPath } from "node:url";
import { connect, type FlotillaClient } from "@flotilla/client";
import { nodeBin, startLocalFleet } from "@flotilla/launcher";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createFlotillaMcpServer } from "../src/index.js";

/*
 * Project claims through MCP: `CLIENTS` agents (default 8), each an MCP client with its own server and its
 * own connection to a real coordinator (a process of its own, from this checkout's sources, on a Redis
 * of its own), call `claim_next_task` on a project until it is empty, project after project of one size,
 * `CLAIMS` claims in all. Prints one JSON line per project size: claim latency p50/p99 as a client sees
 * it (the MCP call, the coordinator's claim script and the answer) and claims per second over the run.
 * Goal: p99 ≤ 10 ms and ≥ 1,000 claims/s. Several sizes, since a claim's cost may grow with its project.
 *
 * `pnpm --filter @flotilla/mcp bench` (`BENCH_SIZES=100,1000`, `BENCH_CLAIMS`, `BENCH_CLIENTS`).
 */
const SIZES = (process.env.BENCH_SIZES ?? "100,1000").split(",").map(Number);
const CLAIMS = Number(process.env.BENCH_CLAIMS ?? 2000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const WARMUP_TASKS = 400;
/** The most tasks one `add_tasks_to_project` carries (the protocol's limit per call). */
const PER_CALL = 1000;

const coordinatorEntry = fileURLToPath(new URL("../../coordinator/src/main.ts", import.meta.url));
const agentEntry = fileURLToPath(new URL("../../node-agent/src/main.ts", import.meta.url));

interface Agent {
  fleet: FlotillaClient;
  mcp: Client;
}

async function openAgent(url: string, token: string, index: number): Promise<Agent> {
  const agentId = `bench-${index}`;
  const fleet = await connect({ url, token, clientId: agentId, agent: agentId });
  const server = createFlotillaMcpServer({ client: fleet, agentId, canApprove: false });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const mcp = new Client({ name: agentId, version: "0.0.0" });
  await mcp.connect(clientSide);
  return { fleet, mcp };
}

function json(result: Awaited<ReturnType<Client["callTool"]>>): Record<string, unknown> {
  const text = (result.content as { text: string }[])[0]?.text ?? "null";
  if (result.isError) throw new Error(text);
  return JSON.parse(text) as Record<string, unknown>;
}

async function project(agent: Agent, tasks: number): Promise<string> {
  const created = json(
    await agent.mcp.callTool({ name: "create_project", arguments: { initialPrompt: "bench", tasks: [] } }),
  );
  const projectId = String(created.projectId);
  for (let added = 0; added < tasks; added += PER_CALL) {
    const batch = Array.from({ length: Math.min(PER_CALL, tasks - added) }, (_, i) => ({
      title: `work item ${added + i + 1}`,
      description: "benchmark work",
    }));
    json(await agent.mcp.callTool({ name: "add_tasks_to_project", arguments: { projectId, tasks: batch } }));
  }
  return projectId;
}

/** Task ids claimed in the measured run: none may be given twice. */
const claimed = new Set<string>();

/** Every agent claims until the project is empty; the latency of each successful claim, ms. */
async function drain(agents: Agent[], projectId: string): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(
    agents.map(async (agent) => {
      for (;;) {
        const started = performance.now();
        const answer = json(await agent.mcp.callTool({ name: "claim_next_task", arguments: { projectId } }));
        const took = performance.now() - started;
        if (answer.task === null) return;
        claimed.add(String((answer.task as { id: string }).id));
        latencies.push(took);
      }
    }),
  );
  return latencies;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

const fleet = await startLocalFleet({
  coordinatorBin: nodeBin(coordinatorEntry, import.meta.resolve("tsx")),
  agentBin: nodeBin(agentEntry, import.meta.resolve("tsx")),
  agents: [],
});
const agents: Agent[] = [];
try {
  for (let i = 0; i < CLIENTS; i++) agents.push(await openAgent(fleet.url, fleet.token, i));
  const [first] = agents as [Agent];
  await drain(agents, await project(first, WARMUP_TASKS));
  for (const size of SIZES) {
    const rounds = Math.max(1, Math.ceil(CLAIMS / size));
    const latencies: number[] = [];
    let seconds = 0;
    claimed.clear();
    for (let round = 0; round < rounds; round++) {
      const projectId = await project(first, size);
      const started = performance.now();
      latencies.push(...(await drain(agents, projectId)));
      seconds += (performance.now() - started) / 1000;
    }
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        bench: "mcp-claim-next-task",
        clients: CLIENTS,
        tasksPerProject: size,
        claims: latencies.length,
        p50Ms: Number(percentile(latencies, 50).toFixed(2)),
        p99Ms: Number(percentile(latencies, 99).toFixed(2)),
        claimsPerSecond: Math.round(latencies.length / seconds),
        goal: { p99Ms: 10, claimsPerSecond: 1000 },
      }),
    );
    if (latencies.length !== rounds * size || claimed.size !== rounds * size)
      throw new Error(
        `${latencies.length} claims of ${claimed.size} distinct tasks for ${rounds * size} tasks`,
      );
  }
} finally {
  for (const agent of agents) {
    await agent.mcp.close();
    agent.fleet.close();
  }
  await fleet.stop();
}
