import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { type Service, startService } from "./process.js";

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Port to listen on; a free one by default (a restart reuses it). */
  port?: number;
  /** The append-only file and its fsync policy; off by default. `everysec` can lose up to a second of
   * writes on a machine crash; `always` loses none and costs a disk sync per write. */
  appendOnly?: "everysec" | "always" | false;
  /** The `redis-server` binary (default: from PATH). */
  binary?: string;
  /** Serve TLS only (no plain port) with these PEM files; the URL is then `rediss://`. */
  tls?: RedisTlsFiles;
  /**
   * ACL rule lines, one per user, as in `redis.conf` without the leading `user`
   * (`"flotilla on >secret ~* +@all"`), words split at spaces; `"default off"` turns the password-less default user off.
   */
  users?: readonly string[];
  /** More `redis-server` arguments, one word each (`["--replicaof", "127.0.0.1", "6379"]`). */
  extraArgs?: readonly string[];
}

/** The PEM files of a TLS-serving redis-server. */
export interface RedisTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA that client certificates must chain to. */
  readonly caFile: string;
  /** Whether clients must present a certificate (`yes`), may (`optional`) or need not (`no`; default). */
  readonly authClients?: "yes" | "optional" | "no";
}

/** A redis-server child process with its own data directory. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Kills the server with SIGKILL: a crash, not a shutdown. */
  kill(): Promise<void>;
  /**
   * Starts it again on the same port and directory, so the AOF brings its data back; with `empty`, its
   * data files are removed first, as after a lost disk or a Redis run without persistence.
   */
  restart(options?: { empty?: boolean }): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/** The line to show when there is no redis-server to start. */
export const REDIS_MISSING_HINT =
  "redis-server was not found on PATH: install it (macOS: brew install redis; Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL to a running Redis";

/** Starts a private `redis-server` on a free loopback port in a temporary directory. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "flotilla-redis-"));
  const args = ["--bind", "127.0.0.1", "--save", "", "--dir", dir, "--logfile", ""];
  const tls = options.tls;
  if (tls) {
    args.push("--port", "0", "--tls-port", String(port));
    args.push(
      "--tls-cert-file",
      tls.certFile,
      "--tls-key-file",
      tls.keyFile,
      "--tls-ca-cert-file",
      tls.caFile,
    );
    args.push("--tls-auth-clients", tls.authClients ?? "no");
  } else {
    args.push("--port", String(port));
  }
  // One argument per word: redis-server quotes an argument holding spaces as a single word.
  for (const user of options.users ?? []) args.push("--user", ...user.split(/\s+/).filter(Boolean));
  if (options.appendOnly) args.push("--appendonly", "yes", "--appendfsync", options.appendOnly);
  else args.push("--appendonly", "no");
  args.push(...(options.extraArgs ?? []));
  let service: Service | undefined;
  const launch = async (): Promise<void> => {
    try {
      service = await startService({
        name: "redis-server",
        command: options.binary ?? "redis-server",
        args,
        ready: /Ready to accept connections/,
      });
    } catch (error) {
      if (String((error as Error).message).includes("ENOENT")) throw new Error(REDIS_MISSING_HINT);
      throw error;
    }
  };
  await launch();
  return {
    port,
    url: `${tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
    dir,
    async kill() {
      service?.signal("SIGKILL");
      await service?.exited;
    },
    async restart(restart = {}) {
      if (restart.empty) {
        for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
      }
      await launch();
    },
    async dispose() {
      service?.signal("SIGKILL");
      await service?.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
