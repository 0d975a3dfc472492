import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect } from "@flotilla/client";
import { createAgent } from "@flotilla/node-agent";
import { isFlotillaError } from "@flotilla/protocol";
import { startTlsRedis, type TlsRedis } from "@flotilla/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli.js";
import type { RedisConnectionSettings } from "../src/redis-connection.js";
import { testCoordinator, testFingerprint } from "./fleet.js";

/** A password a naive URL parser splits in the wrong place. */
const PASSWORD = "p@ss/w:rd%2F#1";
const WRONG = "wr@ng/p:ss%40";
/** The minimal rule of the coordinator's user, as the README gives it (prefix `fl`). */
const RULE =
  "~fl:* &fl:* &fl:agent:*:messages &fl:agents:topic:* -@all +@read +@write +@scripting +@pubsub +@connection +@transaction -@dangerous +info +config|get";

/** A logger at debug level whose lines are kept, to check what reached the log. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

describe("Redis over TLS with an ACL user", () => {
  let redis: TlsRedis;
  let tls: RedisConnectionSettings;

  beforeAll(async () => {
    redis = await startTlsRedis({
      authClients: "yes",
      users: [
        "default off",
        `flotilla on >${PASSWORD} ${RULE}`,
        `noconfig on >${PASSWORD} ${RULE} -config|get`,
      ],
    });
    const certificates = redis.certificates;
    tls = {
      ca: certificates.read(certificates.caFile),
      cert: certificates.read(certificates.clientCertFile),
      key: certificates.read(certificates.clientKeyFile),
    };
  }, 30_000);

  /** A coordinator (not started) connecting as `username` with the client certificate, logging to `lines`. */
  const asUser = (username: string) => {
    const { logger, lines } = capturingLogger();
    const redisConnection = { ...tls, username, password: PASSWORD };
    return {
      coordinator: testCoordinator(redis.server.url, { prefix: "fl", logger, redisConnection }),
      lines,
    };
  };

  afterAll(async () => {
    await redis?.dispose();
  });

  it("runs a task end to end through a rediss:// connection as the least-privileged user", async () => {
    const { coordinator, lines } = asUser("flotilla");
    await coordinator.start();
    const agent = createAgent({
      coordinatorUrl: coordinator.url,
      token: "test-token",
      id: "tls-node",
      slots: 1,
      logger: pino({ level: "silent" }),
      fingerprint: testFingerprint(),
    });
    const client = await connect({ url: coordinator.url, token: "test-token" });
    try {
      await agent.start();
      const task = await client.submit({ kind: "exec", argv: ["echo", "over tls"] });
      const result = await task.result();
      expect(result.state).toBe("succeeded");
    } finally {
      client.close();
      await agent.stop();
      await coordinator.stop();
    }
    const log = lines.join("");
    expect(log).not.toContain("NOPERM");
    expect(log).not.toContain(PASSWORD);
  }, 30_000);

  it("starts with a warning when the user may not run CONFIG GET", async () => {
    const { coordinator, lines } = asUser("noconfig");
    await coordinator.start();
    await coordinator.stop();
    expect(lines.join("")).toContain("cannot check whether Redis keeps its data");
  }, 30_000);

  it("keeps the password out of the error and the log when it is wrong", async () => {
    const { logger, lines } = capturingLogger();
    const url = redis.server.url.replace("rediss://", `rediss://flotilla:${encodeURIComponent(WRONG)}@`);
    const coordinator = testCoordinator(url, { prefix: "fl", logger, redisConnection: tls });
    const error = await coordinator.start().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(isFlotillaError(error) && error.code).toBe("E_REDIS_UNAVAILABLE");
    const message = (error as Error).message;
    expect(message).toMatch(/WRONGPASS/);
    expect(message).toContain("rediss://flotilla:***@127.0.0.1");
    for (const text of [message, lines.join("")]) {
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain(encodeURIComponent(WRONG));
    }
  }, 30_000);

  it("is refused without the client certificate, and without the CA", async () => {
    const password = { username: "flotilla", password: PASSWORD };
    for (const connection of [{ ca: tls.ca ?? "", ...password }, password]) {
      const coordinator = testCoordinator(redis.server.url, { prefix: "fl", redisConnection: connection });
      await expect(coordinator.start()).rejects.toMatchObject({ code: "E_REDIS_UNAVAILABLE" });
    }
  }, 30_000);

  it("takes the TLS files, user and password file as flags, and keeps a wrong password out of stderr", async () => {
    const dir = redis.certificates.dir;
    const passwordFile = join(dir, "redis-password");
    writeFileSync(passwordFile, `${WRONG}\n`);
    const errors: string[] = [];
    const code = await runCli(
      [
        ...["--redis", redis.server.url, "--token", "t", "--port", "0", "--host", "127.0.0.1"],
        ...["--redis-ca", redis.certificates.caFile, "--redis-cert", redis.certificates.clientCertFile],
        ...["--redis-key", redis.certificates.clientKeyFile, "--redis-user", "flotilla"],
        ...["--redis-password-file", passwordFile, "--log-level", "fatal"],
      ],
      { env: {}, out: () => {}, err: (line) => errors.push(line), logger: capturingLogger().logger },
    );
    expect(code).toBe(1);
    expect(errors.join("\n")).toMatch(/cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: WRONGPASS/);
    expect(errors.join("\n")).not.toContain(WRONG);
  }, 30_000);
});
