import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { freePort } from "./ports.js";
import { type Service, startService } from "./process.js";
import { type RedisServer, type RedisServerOptions, startRedisServer } from "./redis.js";
import type { LocalFleetTls } from "./tls.js";

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
  /** Extra environment for the coordinator (e.g. `FLOTILLA_FAILPOINT`). */
  coordinatorEnv?: Record<string, string>;
  /** The Redis address the coordinator is given, when it must differ from the fleet's (e.g. a proxy). */
  coordinatorRedisUrl?: string;
  /**
   * How many coordinators to start on the same Redis, each on its own port (default 1). With more than
   * one, agents get every URL, comma-separated, and `url` is that list.
   */
  coordinators?: number;
  /**
   * Serve `wss://` with these files (see `initFleetTls`): the coordinator gets the certificate and key,
   * every agent the CA, and the fleet's URLs are `wss://127.0.0.1:<port>` (the certificate must name
   * 127.0.0.1).
   */
  tls?: LocalFleetTls;
  /** Key prefix (default: one of its own, so a shared Redis is never disturbed). */
  prefix?: string;
  /** How long each coordinator and agent may take to print its ready line (default 20 s). */
  readyTimeoutMs?: number;
  /** Every output line of every process. */
  onLine?: (process: string, line: string) => void;
}

/** What a coordinator restart may change. */
export interface CoordinatorRestart {
  /** Which coordinator (default 0, the first). */
  index?: number;
  /** Its extra environment this time, instead of `coordinatorEnv` (e.g. without a failpoint). */
  env?: Record<string, string>;
}

/** A fleet running as local processes. */
export interface LocalFleet {
  /** The coordinator's URL; with several coordinators, all of them comma-separated. */
  readonly url: string;
  /** Each coordinator's own URL, in start order. */
  readonly coordinatorUrls: readonly string[];
  readonly token: string;
  readonly redisUrl: string;
  readonly prefix: string;
  /** The CA file clients need to dial a fleet started with `tls`. */
  readonly caFile: string | undefined;
  /** The Redis the fleet started, if it started one. */
  readonly redis: RedisServer | undefined;
  /** The first coordinator (as last started). */
  readonly coordinator: Service;
  /** Every coordinator (as last started), in the order of `coordinatorUrls`. */
  readonly coordinators: readonly Service[];
  readonly agents: ReadonlyMap<string, Service>;
  /** Starts (or starts again) an agent. */
  startAgent(spec: LocalAgentSpec): Promise<Service>;
  /** Starts a coordinator again (after it was killed) on the same port. */
  restartCoordinator(restart?: CoordinatorRestart): Promise<Service>;
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
  const ports = [options.port ?? (await freePort())];
  while (ports.length < (options.coordinators ?? 1)) ports.push(await freePort());
  const tls = options.tls;
  const coordinatorUrls = ports.map((port) => `${tls ? "wss" : "ws"}://127.0.0.1:${port}`);
  const url = coordinatorUrls.join(",");
  const agents = new Map<string, Service>();
  const started: Service[] = [];
  const onLine = (name: string) => (line: string) => options.onLine?.(name, line);
  const readyTimeout = options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs };

  const startCoordinator = async (index: number, env = options.coordinatorEnv): Promise<Service> =>
    await startService({
      name: index === 0 ? "coordinator" : `coordinator ${index}`,
      command: options.coordinatorBin.command,
      args: [
        ...options.coordinatorBin.args,
        "--port",
        String(ports[index]),
        "--host",
        options.host ?? "127.0.0.1",
        "--prefix",
        prefix,
        ...(tls ? ["--tls-cert", tls.certFile, "--tls-key", tls.keyFile] : []),
        ...(options.coordinatorArgs ?? []),
      ],
      // The token and the Redis URL (which may hold a password) go in the environment: the command line
      // is readable by every user of the machine.
      env: { ...env, FLOTILLA_TOKEN: token, FLOTILLA_REDIS_URL: options.coordinatorRedisUrl ?? redisUrl },
      // A coordinator that finds another one active waits as a standby, and may say only that.
      ready: /flotilla-coordinator (ready|standby)/,
      ...readyTimeout,
      onLine: onLine(index === 0 ? "coordinator" : `coordinator${index}`),
    });

  const coordinators: Service[] = [];
  try {
    for (let index = 0; index < ports.length; index += 1) coordinators.push(await startCoordinator(index));
  } catch (error) {
    await Promise.allSettled(coordinators.map((service) => service.stop(3000)));
    await redis?.dispose();
    throw error;
  }

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
        ...(tls ? ["--ca", tls.caFile] : []),
        ...labels,
        ...(spec.args ?? []),
      ],
      env: { ...spec.env, FLOTILLA_TOKEN: token },
      ready: /ready: connected/,
      ...readyTimeout,
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
    caFile: tls?.caFile,
    redis,
    coordinatorUrls,
    get coordinator() {
      return coordinators[0] as Service;
    },
    coordinators,
    agents,
    startAgent,
    async restartCoordinator(restart = {}) {
      const index = restart.index ?? 0;
      const service = await startCoordinator(index, restart.env ?? options.coordinatorEnv);
      coordinators[index] = service;
      return service;
    },
    async stop() {
      await Promise.allSettled([...started].reverse().map((service) => service.stop(3000)));
      await Promise.allSettled(coordinators.map((service) => service.stop(3000)));
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
