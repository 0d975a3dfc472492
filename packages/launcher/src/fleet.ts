import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { freePort } from "./ports.js";
import { type Service, startService } from "./process.js";
import { type RedisServer, type RedisServerOptions, startRedisServer } from "./redis.js";

/** How to run a Flotilla binary: a command and the arguments before the binary's own. */
export interface BinSpec {
  command: string;
  args: readonly string[];
}

/**
 * A binary run by this Node.js: a built `.js` entry as its shebang would run it (with the Node.js flags
 * it names), a `.ts` entry through `tsx` with the workspace's `source` condition (so a checkout runs
 * without a build).
 */
export function nodeBin(entry: string, tsxLoader?: string): BinSpec {
  if (!entry.endsWith(".ts")) return { command: process.execPath, args: [...shebangFlags(entry), entry] };
  if (tsxLoader === undefined) throw new Error(`${entry} is TypeScript: pass the tsx loader to run it`);
  return { command: process.execPath, args: ["--conditions=source", "--import", tsxLoader, entry] };
}

/** The Node.js flags of a `#!/usr/bin/env -S node --flag …` first line; none for any other. */
export function shebangFlags(entry: string): string[] {
  let head: string;
  try {
    head = readFileSync(entry, "utf8").slice(0, 256).split("\n", 1)[0] ?? "";
  } catch {
    return [];
  }
  const match = /^#!\S*\benv -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(head);
  return match?.[1] ? match[1].trim().split(/\s+/) : [];
}

/** One agent of a local fleet. */
export interface LocalAgentSpec {
  id: string;
  labels?: Record<string, string>;
  slots?: number;
  /** More flags for `flotilla-agent`. */
  args?: readonly string[];
  /** Extra environment for this agent (and so for the tasks it runs). */
  env?: Record<string, string>;
  /** Runs this agent differently, e.g. inside a network namespace (`ip netns exec ns node …`). */
  bin?: BinSpec;
  /** The coordinator address as this agent reaches it (default: the fleet's loopback URL). */
  coordinatorUrl?: string;
}

/** Options of {@link startLocalFleet}. */
export interface LocalFleetOptions {
  coordinatorBin: BinSpec;
  agentBin: BinSpec;
  agents: readonly LocalAgentSpec[];
  /** Use this Redis instead of starting one. */
  redisUrl?: string;
  /** Options for the Redis the fleet starts (AOF `everysec` by default: nothing acknowledged is lost on a restart). */
  redis?: RedisServerOptions;
  /** Fleet token (default: a random one). */
  token?: string;
  /** Coordinator port (default: a free one). */
  port?: number;
  /** Interface the coordinator listens on (default 127.0.0.1). */
  host?: string;
  /** More flags for `flotilla-coordinator`. */
  coordinatorArgs?: readonly string[];
  /** Key prefix (default: one of its own, so a shared Redis is never disturbed). */
  prefix?: string;
  /** Every output line of every process. */
  onLine?: (process: string, line: string) => void;
}

/** A fleet running as local processes. */
export interface LocalFleet {
  readonly url: string;
  readonly token: string;
  readonly redisUrl: string;
  readonly prefix: string;
  /** The Redis the fleet started, if it started one. */
  readonly redis: RedisServer | undefined;
  readonly coordinator: Service;
  readonly agents: ReadonlyMap<string, Service>;
  /** Starts (or starts again) an agent. */
  startAgent(spec: LocalAgentSpec): Promise<Service>;
  /** Starts the coordinator again (after it was killed) on the same port. */
  restartCoordinator(): Promise<Service>;
  /** Stops everything it started, agents first. */
  stop(): Promise<void>;
}

/** Starts Redis (unless given one), a coordinator and agents, each as its own process. */
export async function startLocalFleet(options: LocalFleetOptions): Promise<LocalFleet> {
  const token = options.token ?? randomBytes(16).toString("hex");
  const prefix = options.prefix ?? `fl${randomBytes(3).toString("hex")}`;
  const redis =
    options.redisUrl === undefined
      ? await startRedisServer({ appendOnly: "everysec", ...options.redis })
      : undefined;
  const redisUrl = options.redisUrl ?? (redis as RedisServer).url;
  const port = options.port ?? (await freePort());
  const url = `ws://127.0.0.1:${port}`;
  const agents = new Map<string, Service>();
  const started: Service[] = [];
  const onLine = (name: string) => (line: string) => options.onLine?.(name, line);

  const startCoordinator = async (): Promise<Service> =>
    await startService({
      name: "coordinator",
      command: options.coordinatorBin.command,
      args: [
        ...options.coordinatorBin.args,
        "--redis",
        redisUrl,
        "--port",
        String(port),
        "--host",
        options.host ?? "127.0.0.1",
        "--prefix",
        prefix,
        ...(options.coordinatorArgs ?? []),
      ],
      env: { FLOTILLA_TOKEN: token },
      ready: /flotilla-coordinator ready/,
      onLine: onLine("coordinator"),
    });

  let coordinator: Service;
  try {
    coordinator = await startCoordinator();
  } catch (error) {
    await redis?.dispose();
    throw error;
  }
  started.push(coordinator);

  const startAgent = async (spec: LocalAgentSpec): Promise<Service> => {
    const labels = Object.entries(spec.labels ?? {}).flatMap(([key, value]) => [
      "--label",
      `${key}=${value}`,
    ]);
    const bin = spec.bin ?? options.agentBin;
    const agent = await startService({
      name: `agent ${spec.id}`,
      command: bin.command,
      args: [
        ...bin.args,
        "--coordinator",
        spec.coordinatorUrl ?? url,
        "--id",
        spec.id,
        ...(spec.slots === undefined ? [] : ["--slots", String(spec.slots)]),
        ...labels,
        ...(spec.args ?? []),
      ],
      env: { ...spec.env, FLOTILLA_TOKEN: token },
      ready: /ready: connected/,
      onLine: onLine(spec.id),
    });
    agents.set(spec.id, agent);
    started.push(agent);
    return agent;
  };

  const fleet: LocalFleet = {
    url,
    token,
    redisUrl,
    prefix,
    redis,
    get coordinator() {
      return coordinator;
    },
    agents,
    startAgent,
    async restartCoordinator() {
      coordinator = await startCoordinator();
      started.push(coordinator);
      return coordinator;
    },
    async stop() {
      const agentsFirst = [...started].reverse();
      await Promise.allSettled(
        agentsFirst.filter((service) => service !== coordinator).map((service) => service.stop(3000)),
      );
      await coordinator.stop(3000);
      await redis?.dispose();
    },
  };
  try {
    await Promise.all(options.agents.map((spec) => startAgent(spec)));
  } catch (error) {
    await fleet.stop();
    throw error;
  }
  return fleet;
}
