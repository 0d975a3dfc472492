/**
 * Redis set-ups for the high-availability tests: a primary with a replica watched by three
 * `redis-sentinel` processes, and a three-primary Redis Cluster. Every process is a real Redis binary on a
 * free loopback port with its own temporary directory; `dispose()` kills them all.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, type RedisServer, type Service, startRedisServer, startService } from "@flotilla/launcher";
import { waitFor } from "./wait.js";

const run = promisify(execFile);

/** Runs `redis-cli` with `args`; resolves with its output. */
export async function redisCli(args: readonly string[]): Promise<string> {
  const { stdout } = await run("redis-cli", [...args], { timeout: 30_000 });
  return stdout;
}

/** A primary, two replicas and three sentinels monitoring the primary as {@link SentinelSet.masterName}. */
export interface SentinelSet {
  readonly masterName: string;
  readonly primary: RedisServer;
  /** Two, so a promoted one still has a replica beside it (what `WAIT 1` then counts). */
  readonly replicas: readonly RedisServer[];
  /** The sentinels' ports, on 127.0.0.1. */
  readonly sentinels: readonly { host: string; port: number }[];
  /** `host:port,...` of the sentinels, as `--redis-sentinel` takes them. */
  readonly sentinelList: string;
  /** Asks a sentinel which port it holds the primary on now. */
  primaryPort(): Promise<number>;
  dispose(): Promise<void>;
}

/**
 * Starts a primary, two replicas of it (once their links are up) and three sentinels with a quorum of two,
 * which call the primary down after 1 s of silence.
 */
export async function startSentinelSet(masterName = "flotilla"): Promise<SentinelSet> {
  const primary = await startRedisServer({ appendOnly: "everysec" });
  const started: RedisServer[] = [primary];
  const services: Service[] = [];
  const dir = mkdtempSync(join(tmpdir(), "flotilla-sentinel-"));
  const dispose = async (): Promise<void> => {
    for (const service of services) service.signal("SIGKILL");
    await Promise.allSettled(services.map((service) => service.exited));
    await Promise.allSettled(started.map((server) => server.dispose()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const replicas: RedisServer[] = [];
    for (let i = 0; i < 2; i += 1) {
      const replica = await startRedisServer({
        appendOnly: "everysec",
        extraArgs: ["--replicaof", "127.0.0.1", String(primary.port)],
      });
      started.push(replica);
      replicas.push(replica);
      await waitForOutput(
        () => redisCli(["-p", String(replica.port), "info", "replication"]),
        /master_link_status:up/,
        "the replica's link to the primary",
      );
    }
    const sentinels: { host: string; port: number }[] = [];
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${i}.conf`);
      // The sentinel rewrites its file as it learns the set, so each has its own writable copy.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
      );
      services.push(
        await startService({
          name: `redis-sentinel-${i}`,
          command: "redis-sentinel",
          args: [conf],
          ready: /\+monitor master/,
        }),
      );
      sentinels.push({ host: "127.0.0.1", port });
    }
    const primaryPort = async (): Promise<number> => {
      const answer = await redisCli([
        "-p",
        String(sentinels[0]?.port),
        "sentinel",
        "get-master-addr-by-name",
        masterName,
      ]);
      return Number(answer.trim().split("\n")[1]);
    };
    return {
      masterName,
      primary,
      replicas,
      sentinels,
      sentinelList: sentinels.map((s) => `${s.host}:${s.port}`).join(","),
      primaryPort,
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** A Redis Cluster of three primaries (no replicas), every slot assigned. */
export interface RedisClusterSet {
  readonly nodes: readonly RedisServer[];
  /** The primaries' addresses, on 127.0.0.1. */
  readonly addresses: readonly { host: string; port: number }[];
  /** `host:port,...` of the primaries, as `--redis-cluster` takes them. */
  readonly addressList: string;
  dispose(): Promise<void>;
}

/** Starts three `redis-server --cluster-enabled yes` and joins them with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<RedisClusterSet> {
  const nodes: RedisServer[] = [];
  const dispose = async (): Promise<void> => {
    await Promise.allSettled(nodes.map((node) => node.dispose()));
  };
  try {
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      // Each node keeps its cluster state file in its own directory (the server runs there: `--dir`).
      nodes.push(
        await startRedisServer({
          port,
          extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`],
        }),
      );
    }
    const addresses = nodes.map((node) => ({ host: "127.0.0.1", port: node.port }));
    await redisCli([
      "--cluster",
      "create",
      ...addresses.map((a) => `${a.host}:${a.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    for (const node of nodes) {
      await waitForOutput(
        () => redisCli(["-p", String(node.port), "cluster", "info"]),
        /cluster_state:ok/,
        `cluster state ok on port ${node.port}`,
      );
    }
    return { nodes, addresses, addressList: addresses.map((a) => `${a.host}:${a.port}`).join(","), dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

async function waitForOutput(read: () => Promise<string>, want: RegExp, what: string): Promise<void> {
  await waitFor(async () => want.test(await read()), { timeoutMs: 30_000, intervalMs: 50, what });
}
