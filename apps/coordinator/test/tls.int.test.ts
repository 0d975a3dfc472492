import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { connect, type FlotillaClient } from "@flotilla/client";
import { type Agent, createAgent } from "@flotilla/node-agent";
import { isFlotillaError } from "@flotilla/protocol";
import { type RedisServer, startRedis } from "@flotilla/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import { type Coordinator, createCoordinator } from "../src/index.js";
import { testCoordinator, testFingerprint } from "./fleet.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-tls-"));
const silent = pino({ level: "silent" });

/** Runs `flotilla-coordinator init-tls` into `out`; returns what it printed. */
async function initTls(out: string, names = "localhost,127.0.0.1"): Promise<string> {
  const lines: string[] = [];
  const code = await runCli(["init-tls", "--names", names, "--out", out], {
    env: {},
    out: (line) => lines.push(line),
    err: (line) => lines.push(line),
  });
  expect(code, lines.join("\n")).toBe(0);
  return lines.join("\n");
}

/** The serial number of the certificate a new TLS connection to `port` is shown. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on("error", reject);
  });
}

/** The serial number of a PEM certificate file. */
async function fileSerial(path: string): Promise<string> {
  const { X509Certificate } = await import("node:crypto");
  return new X509Certificate(readFileSync(path)).serialNumber;
}

describe("TLS between coordinator, agents and clients", () => {
  let redis: RedisServer;
  let coordinator: Coordinator;
  let agent: Agent | undefined;
  let client: FlotillaClient | undefined;
  const first = join(dir, "first");
  const live = { cert: join(dir, "server.crt"), key: join(dir, "server.key") };
  let ca = "";

  beforeAll(async () => {
    await initTls(first);
    ca = readFileSync(join(first, "ca.crt"), "utf8");
    copyFileSync(join(first, "server.crt"), live.cert);
    copyFileSync(join(first, "server.key"), live.key);
    redis = await startRedis();
    coordinator = testCoordinator(redis.url, { tls: live });
    await coordinator.start();
  });

  afterAll(async () => {
    client?.close();
    await agent?.stop({ now: true });
    await coordinator?.stop();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a task over wss:// with the certificate and host name verified", async () => {
    expect(coordinator.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const url = `wss://localhost:${coordinator.port}`;
    agent = createAgent({
      coordinatorUrl: url,
      token: "test-token",
      ca,
      id: "tls-node",
      slots: 1,
      logger: silent,
      fingerprint: testFingerprint(),
    });
    await agent.start();
    client = await connect({ url, token: "test-token", ca, reconnect: false });
    const handle = await client.submit({ kind: "exec", argv: ["echo", "over tls"] });
    const result = await handle.result();
    expect(result.state).toBe("succeeded");
  });

  it("refuses a client without the CA with an error that says what to pass", async () => {
    const refused = await connect({
      url: `wss://localhost:${coordinator.port}`,
      token: "test-token",
      reconnect: false,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isFlotillaError(refused) && refused.code).toBe("E_CONFIG");
    expect((refused as Error).message).toMatch(/certificate is not trusted.*pass --ca <file>/);
  });

  it("stops an agent without the CA with the same advice", async () => {
    const lonely = createAgent({
      coordinatorUrl: `wss://localhost:${coordinator.port}`,
      token: "test-token",
      id: "no-ca-node",
      logger: silent,
      fingerprint: testFingerprint(),
      connectTimeoutMs: 10_000,
    });
    const refused = await lonely.start().catch((error: unknown) => error);
    await lonely.stop({ now: true });
    expect(isFlotillaError(refused) && refused.code).toBe("E_CONFIG");
    expect((refused as Error).message).toMatch(/pass --ca <file>/);
  });

  it("refuses a host name the certificate does not list", async () => {
    const other = join(dir, "other");
    await initTls(other, "elsewhere.local");
    const refused = await connect({
      url: `wss://localhost:${coordinator.port}`,
      token: "test-token",
      ca: readFileSync(join(other, "ca.crt"), "utf8"),
      reconnect: false,
    }).catch((error: unknown) => error);
    expect(isFlotillaError(refused) && refused.code).toBe("E_CONFIG");
  });

  it("reloads the certificate: new connections see the new one, a broken file keeps the old", async () => {
    const second = join(dir, "second");
    await initTls(second);
    const secondCa = readFileSync(join(second, "ca.crt"), "utf8");
    expect(await servedSerial(coordinator.port, ca)).toBe(await fileSerial(live.cert));

    writeFileSync(live.cert, "not a certificate");
    expect(await coordinator.reloadTls()).toBe(false);
    expect(await servedSerial(coordinator.port, ca)).toBe(await fileSerial(join(first, "server.crt")));

    copyFileSync(join(second, "server.crt"), live.cert);
    copyFileSync(join(second, "server.key"), live.key);
    expect(await coordinator.reloadTls()).toBe(true);
    expect(await servedSerial(coordinator.port, secondCa)).toBe(await fileSerial(join(second, "server.crt")));
  });
});

/** Whether a TCP connection to `host:port` opens. */
function opens(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

describe("without TLS", () => {
  it("listens on 127.0.0.1 only, and refuses another interface without --insecure-listen", async () => {
    const redis = await startRedis();
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    try {
      const coordinator = createCoordinator({ redisUrl: redis.url, token: "t", port: 0, logger });
      await coordinator.start();
      // All of 127.0.0.0/8 is this machine on Linux: a socket bound to every interface answers on
      // 127.0.0.2 too, one bound to 127.0.0.1 does not.
      expect(await opens("127.0.0.1", coordinator.port)).toBe(true);
      expect(await opens("127.0.0.2", coordinator.port)).toBe(false);
      expect(lines.join("")).toMatch(/listening on 127\.0\.0\.1 only.*clear text/);
      await coordinator.stop();
      expect(() => createCoordinator({ redisUrl: redis.url, token: "t", host: "0.0.0.0" })).toThrow(
        /without TLS.*--insecure-listen/,
      );
      const open = createCoordinator({
        redisUrl: redis.url,
        token: "t",
        port: 0,
        insecureListen: true,
        logger,
      });
      await open.start();
      if (process.platform === "linux") expect(await opens("127.0.0.2", open.port)).toBe(true);
      await open.stop();
    } finally {
      await redis.dispose();
    }
  });
});
