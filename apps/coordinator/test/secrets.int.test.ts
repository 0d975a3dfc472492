import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@flotilla/client";
import { createAgent } from "@flotilla/node-agent";
import type { TaskRecord } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startFleet, testCoordinator, testFingerprint } from "./fleet.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-secrets-fleet-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SECRET = "s3cr3t-Value/with@chars";

/** Everything Redis holds, key by key, as text: each value read by its type, and its DUMP. */
async function everythingIn(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl);
  try {
    const parts: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        parts.push(key);
        const dump = await redis.dumpBuffer(key);
        if (dump) parts.push(dump.toString("latin1"));
        const type = await redis.type(key);
        if (type === "string") parts.push((await redis.get(key)) ?? "");
        else if (type === "hash") parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === "list") parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === "set") parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === "zset")
          parts.push(JSON.stringify(await redis.zrange(key, "0", "-1", "WITHSCORES")));
        else if (type === "stream") parts.push(JSON.stringify(await redis.xrange(key, "-", "+")));
        else parts.push(`unread type ${type}`);
      }
    } while (cursor !== "0");
    return parts.join("\n");
  } finally {
    redis.disconnect();
  }
}

describe("a task's secret env, on a real fleet", () => {
  it("reaches the process, is masked in its output and every read, and is nowhere in Redis in clear", async () => {
    const fleet = await startFleet({ secretKey: join(dir, "fleet.key") });
    cleanups.push(() => fleet.dispose());
    await fleet.addAgent({ id: "box" });
    const client = await fleet.client();
    const out = join(dir, "seen.txt");
    const handle = await client.submit({
      kind: "exec",
      shell: `printf %s "$DEPLOY_PHRASE" > "$OUT"; echo "the key is $DEPLOY_PHRASE"`,
      env: { OUT: out },
      secretEnv: { DEPLOY_PHRASE: SECRET },
    });
    const done = await handle.result();
    expect(done.state).toBe("succeeded");
    // The process had the value; its output does not show it (a name the agent would not guess).
    expect(readFileSync(out, "utf8")).toBe(SECRET);
    let output = "";
    for await (const chunk of handle.output()) output += chunk.data;
    expect(output).toBe("the key is ***\n");

    // Every read: task.get and task.list over WebSocket, and HTTP (and the pushed outcome, events).
    const masked = { DEPLOY_PHRASE: "***" };
    const secretsOf = (record: TaskRecord): unknown => record.spec.kind === "exec" && record.spec.secretEnv;
    const got = await client.task(handle.id);
    expect(secretsOf(got)).toEqual(masked);
    expect(got.spec).toMatchObject({ env: { OUT: out } });
    const listed = (await client.tasks()).find((task) => task.id === handle.id);
    expect(listed && secretsOf(listed)).toEqual(masked);
    const http = await fetch(`${fleet.coordinator.url.replace(/^ws/, "http")}/v1/tasks/${handle.id}`, {
      headers: { authorization: `Bearer ${fleet.token}` },
    });
    const body = await http.text();
    expect(JSON.parse(body)).toMatchObject({ spec: { secretEnv: masked } });
    const events = [];
    for await (const event of handle.events()) events.push(event);
    const reads = JSON.stringify([done, got, listed, events]) + body;
    expect(reads).not.toContain(SECRET);

    // Redis holds it sealed only.
    const stored = await everythingIn(fleet.redis.url);
    expect(stored).toContain("sealed:v1:");
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(Buffer.from(SECRET).toString("base64"));
  });

  it("fails the task with a clear error, without running it, when the key file is another one", async () => {
    const fleet = await startFleet({ secretKey: join(dir, "first.key") });
    cleanups.push(() => fleet.dispose());
    const out = join(dir, "never.txt");
    const submitter = await fleet.client();
    // No agent yet: the task waits in Redis while the coordinator changes.
    const handle = await submitter.submit(
      { kind: "exec", shell: `echo ran > "${out}"`, secretEnv: { API_TOKEN: SECRET } },
      { wait: false },
    );
    submitter.close();
    await fleet.coordinator.stop();
    const second = testCoordinator(fleet.redis.url, { secretKey: join(dir, "second.key") });
    await second.start();
    cleanups.push(() => second.stop());
    const agent = createAgent({
      id: "box",
      coordinatorUrl: second.url,
      token: fleet.token,
      slots: 1,
      logger: pino({ level: "silent" }),
      fingerprint: testFingerprint(),
    });
    await agent.start();
    cleanups.push(() => agent.stop({ now: true }));
    const client = await connect({ url: second.url, token: fleet.token });
    cleanups.push(() => client.close());
    const record = await waitFor(
      async () => {
        const task = await client.task(handle.id);
        return task.state === "failed" ? task : undefined;
      },
      { what: "the task to fail" },
    );
    expect(record.error?.code).toBe("E_CONFIG");
    expect(record.error?.message).toMatch(
      /secret API_TOKEN of task .* could not be decrypted: .*second\.key.* is not the one it was sealed with/,
    );
    expect(() => readFileSync(out)).toThrow(/ENOENT/);
  });
});
