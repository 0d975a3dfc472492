import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, isFlotillaError } from "@flotilla/client";
import { waitFor } from "@flotilla/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { tokenHash } from "../src/auth.js";
import { startFleet, type TestFleet, testFingerprint } from "./fleet.js";
import { redisCli } from "./raw.js";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe("a fleet of real agents behind a real coordinator and Redis", () => {
  let fleet: TestFleet;
  /** Scratch files the tasks share with the test (locks, gates). */
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "flotilla-fleet-"));
    // The submitters fair sharing divides by are the names of the tokens that submit.
    fleet = await startFleet({
      tokens: ["gate", "bulk", "polite"].map((name) => ({
        name,
        scope: "submit",
        hash: tokenHash(`${name}-token`),
      })),
    });
    await fleet.addAgent({ id: "coord-node", slots: 2, labels: { role: "coordinator" } });
    await fleet.addAgent({
      id: "linux-box",
      slots: 2,
      labels: { heavy: "true", docker: "true" },
      fingerprint: testFingerprint({ cores: 16, docker: { available: true, version: "27.0" } }),
    });
    await fleet.addAgent({
      id: "laptop",
      slots: 1,
      labels: { light: "true", tier: "laptop" },
      fingerprint: testFingerprint({ os: "darwin", arch: "arm64" }),
      handlers: {
        double: async (payload) => (payload as number) * 2,
        fail: async () => {
          throw new Error("handler says no");
        },
      },
    });
  });
  afterAll(async () => {
    await fleet?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("runs a command and streams its output in order with its exit code", async () => {
    const client = await fleet.client();
    const handle = await client.submit({
      kind: "exec",
      shell: "for i in $(seq 1 500); do echo line $i; done; exit 3",
    });
    const chunks = await collect(handle.output());
    const text = chunks.map((chunk) => chunk.data).join("");
    expect(text.split("\n").filter(Boolean)).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i + 1}`));
    const result = await handle.result();
    expect(result.state).toBe("failed");
    expect(result.exitCode).toBe(3);
  });

  it("numbers a retried task's output on across its attempts, so watchers get all of it in order", async () => {
    const client = await fleet.client();
    const marker = join(scratch, "retried-once");
    const handle = await client.submit({
      kind: "exec",
      shell: `if [ -e '${marker}' ]; then echo second; else touch '${marker}'; echo first; exit 7; fi`,
      retry: { maxAttempts: 2, backoffMs: 50, retryOn: [7] },
    });
    // Each attempt's runner counts its chunks from 0; a watcher that had seen the first attempt used to
    // drop the second's output as already seen.
    const live = await collect(handle.output());
    expect(live.map((chunk) => chunk.data).join("")).toBe("first\nsecond\n");
    expect((await handle.result()).state).toBe("succeeded");
    const replay = await collect(client.watch(handle.id).output());
    expect(replay.map((chunk) => chunk.data).join("")).toBe("first\nsecond\n");
    const seqs = replay.map((chunk) => chunk.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    // Replayed chunks carry the epoch of the run that wrote them.
    expect(new Set(replay.map((chunk) => chunk.epoch)).size).toBe(2);
  });

  it("routes by explicit label needs and by needs inferred from the command", async () => {
    const client = await fleet.client();
    const light = await (
      await client.submit({ kind: "exec", argv: ["true"], needs: { tier: "laptop" } })
    ).result();
    expect(light.record.node).toBe("laptop");
    const docker = await (
      await client.submit({ kind: "exec", shell: "docker --version >/dev/null 2>&1; true" })
    ).result();
    expect(docker.record.node).toBe("linux-box");
    const make = await (await client.submit({ kind: "exec", argv: ["make", "--version"] })).result();
    expect(make.record.node).toBe("linux-box");
  });

  it("keeps an unsatisfiable task waiting with the reason, then fails it with E_NODE_UNAVAILABLE", async () => {
    const client = await fleet.client();
    const handle = await client.submit({
      kind: "exec",
      argv: ["true"],
      needs: { gpu: true },
      maxWaitMs: 1500,
    });
    const waiting = await client.task(handle.id);
    expect(waiting.state).toBe("waiting");
    expect((waiting as { waitingReason?: string }).waitingReason).toMatch(/no healthy node with gpu=true/);
    const result = await handle.result();
    expect(result.state).toBe("failed");
    expect(result.error?.code).toBe("E_NODE_UNAVAILABLE");
    expect(result.error?.message).toMatch(/gpu/);
  });

  it("kills the whole process group on timeout and on cancel", async () => {
    const client = await fleet.client();
    const marker = `flotilla-test-${Date.now()}`;
    const timed = await client.submit({
      kind: "exec",
      shell: `sleep 30 & echo $! > /tmp/${marker}.timeout; wait`,
      // Time enough for the shell to write the pid file first, also when the machine is busy.
      timeoutMs: 1000,
      needs: { role: "coordinator" },
    });
    const timedResult = await timed.result();
    expect(timedResult.state).toBe("timed_out");
    const pid = Number(execFileSync("cat", [`/tmp/${marker}.timeout`], { encoding: "utf8" }));
    await waitFor(() => !isAlive(pid), { what: "the background sleep to die" });

    const cancelled = await client.submit({
      kind: "exec",
      shell: `sleep 30 & echo $! > /tmp/${marker}.cancel; wait`,
    });
    await waitFor(async () => (await client.task(cancelled.id)).state === "running", { what: "running" });
    await waitFor(() => {
      try {
        return execFileSync("cat", [`/tmp/${marker}.cancel`], { encoding: "utf8" }).trim() !== "";
      } catch {
        return false;
      }
    });
    await cancelled.cancel();
    const cancelledResult = await cancelled.result();
    expect(cancelledResult.state).toBe("cancelled");
    const child = Number(execFileSync("cat", [`/tmp/${marker}.cancel`], { encoding: "utf8" }));
    await waitFor(() => !isAlive(child), { what: "the cancelled group to die" });
  });

  it("never runs more than a node's slots at once", async () => {
    const client = await fleet.client();
    // Each run holds a lock directory while it sleeps: a second run at the same time fails to take it.
    const lock = join(scratch, "slot-lock");
    const handles = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.submit({
          kind: "exec",
          shell: `mkdir '${lock}' || exit 9; sleep 0.3; rmdir '${lock}'`,
          needs: { tier: "laptop" },
        }),
      ),
    );
    const results = await Promise.all(handles.map((handle) => handle.result()));
    expect(results.map((result) => result.exitCode)).toEqual(results.map(() => 0));
    const spans = results.map((result) => ({
      start: Number((result.record as { startedAt?: number }).startedAt),
      end: Number((result.record as { finishedAt?: number }).finishedAt),
    }));
    // A start is dated back from its accept by the agent's runningForMs, an end is when its finish arrived:
    // a run held ahead on the node can seem to start a few ms before the one it waited for was recorded as
    // ended. Two runs at once would overlap by most of their 300 ms.
    const slackMs = 100;
    for (const span of spans) {
      const overlapping = spans.filter(
        (other) => Math.min(span.end, other.end) - Math.max(span.start, other.start) > slackMs,
      ).length;
      expect(overlapping).toBe(1); // the laptop has one slot: only itself overlaps
    }
  });

  it("routes call tasks to the node that serves the handler and returns its result", async () => {
    const client = await fleet.client();
    const result = await (await client.submit({ kind: "call", handler: "double", payload: 21 })).result();
    expect(result.state).toBe("succeeded");
    expect(result.result).toBe(42);
    expect(result.record.node).toBe("laptop");
    const failed = await (await client.submit({ kind: "call", handler: "fail" })).result();
    expect(failed.state).toBe("failed");
    expect(failed.error?.code).toBe("E_HANDLER");
  });

  it("answers duplicate idempotency keys with the first task", async () => {
    const client = await fleet.client();
    const first = await client.submit({ kind: "exec", argv: ["true"], idempotencyKey: "same-key" });
    const second = await client.submit({ kind: "exec", argv: ["true"], idempotencyKey: "same-key" });
    expect(second.id).toBe(first.id);
    expect(second.duplicate).toBe(true);
  });

  it("dead-letters a task after its last retryable attempt, then lists, inspects, requeues and purges it", async () => {
    const client = await fleet.client();
    const handle = await client.submit({
      kind: "exec",
      shell: "exit 7",
      retry: { maxAttempts: 2, backoffMs: 50, retryOn: [7] },
      needs: { role: "coordinator" },
    });
    const result = await handle.result();
    expect(result.state).toBe("dead_lettered");
    expect(result.record.attempts).toHaveLength(2);
    const entries = await client.dlq.list();
    expect(entries.find((entry) => entry.taskId === handle.id)).toMatchObject({ attempts: 2 });
    expect(await client.dlq.get(handle.id)).toMatchObject({ id: handle.id, state: "dead_lettered" });
    expect(await client.dlq.retry(handle.id)).toMatchObject({ ok: true });
    const again = await client.watch(handle.id).result();
    expect(again.state).toBe("dead_lettered");
    expect(await client.dlq.purge(handle.id)).toMatchObject({ purged: 1 });
    await expect(client.task(handle.id)).rejects.toSatisfy(
      (error: unknown) => isFlotillaError(error) && error.code === "E_NOT_FOUND",
    );
  });

  it("expires a task whose TTL runs out before it starts", async () => {
    const client = await fleet.client();
    // Both slots stay busy far past the TTL (however slow the sweep), then are freed for the next tests.
    const blockers = await Promise.all(
      [1, 2].map(() => client.submit({ kind: "exec", argv: ["sleep", "5"], node: "coord-node" })),
    );
    const doomed = await client.submit({ kind: "exec", argv: ["true"], node: "coord-node", ttlMs: 300 });
    const result = await doomed.result();
    expect(result.state).toBe("expired");
    expect(result.error?.message).toMatch(/TTL/);
    await Promise.all(blockers.map((blocker) => blocker.cancel()));
    await Promise.all(blockers.map((blocker) => blocker.result()));
  });

  it("drains a node (no new work, queue moved away) and undrains it", async () => {
    const client = await fleet.client();
    await client.drain("linux-box");
    const listed = await client.nodes();
    expect(listed.find((node) => node.id === "linux-box")?.draining).toBe(true);
    const handle = await client.submit({ kind: "exec", argv: ["make", "--version"], maxWaitMs: 60_000 });
    await waitFor(async () => (await client.task(handle.id)).state === "waiting", {
      what: "waiting while drained",
    });
    await client.undrain("linux-box");
    const result = await handle.result();
    expect(result.record.node).toBe("linux-box");
  });

  it("shares a node fairly between submitters: a burst does not push others back", async () => {
    const connectAs = (name: string) => connect({ url: fleet.coordinator.url, token: `${name}-token` });
    const [gateClient, bulk, politeClient] = await Promise.all([
      connectAs("gate"),
      connectAs("bulk"),
      connectAs("polite"),
    ]);
    fleet.clients.push(gateClient, bulk, politeClient);
    const client = await fleet.client();
    // The slot stays busy until every task below is queued: their order is the queue's, not how fast the
    // submits came in while the burst was already running.
    const gate = join(scratch, "fair-gate");
    const blocker = await gateClient.submit({
      kind: "exec",
      shell: `while [ ! -e '${gate}' ]; do sleep 0.02; done`,
      node: "laptop",
    });
    await waitFor(async () => (await client.task(blocker.id)).state === "running", { what: "the blocker" });
    const burst = await Promise.all(
      Array.from({ length: 8 }, () => bulk.submit({ kind: "exec", argv: ["sleep", "0.1"], node: "laptop" })),
    );
    const polite = await politeClient.submit({ kind: "exec", argv: ["true"], node: "laptop" });
    writeFileSync(gate, "");
    expect((await blocker.result()).state).toBe("succeeded");
    const politeResult = await polite.result();
    const burstResults = await Promise.all(burst.map((handle) => handle.result()));
    const politeStart = Number((politeResult.record as { startedAt?: number }).startedAt);
    const startedAfter = burstResults.filter(
      (result) => Number((result.record as { startedAt?: number }).startedAt) > politeStart,
    ).length;
    // One slot: without fair sharing the polite task would run ninth, after the whole burst.
    expect(startedAfter).toBeGreaterThanOrEqual(5);
  });

  it("rejects a wrong token at the upgrade with 401", async () => {
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${fleet.coordinator.url}/v1/client`, {
        headers: { authorization: "Bearer wrong" },
      });
      socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.on("open", () => resolve(101));
    });
    expect(status).toBe(401);
    await expect(
      (async () => {
        const { connect } = await import("@flotilla/client");
        await connect({
          url: fleet.coordinator.url,
          token: "wrong",
          reconnect: false,
          connectTimeoutMs: 2000,
        });
      })(),
    ).rejects.toSatisfy((error: unknown) => isFlotillaError(error) && error.code === "E_UNAUTHORIZED");
  });

  it("accepts work over HTTP for curl users", async () => {
    const response = await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${fleet.token}`, "content-type": "application/json" },
      body: JSON.stringify({ kind: "exec", argv: ["echo", "hi"] }),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { taskId: string };
    const client = await fleet.client();
    const result = await client.watch(body.taskId).result();
    expect(result.state).toBe("succeeded");
    const bad = await fetch(`${fleet.coordinator.url.replace("ws:", "http:")}/v1/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${fleet.token}` },
      body: JSON.stringify({ kind: "exec", argv: ["bad\u0000arg"] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("E_SCHEMA");
  });

  it("keeps the registry where redis-cli (or any bridge) can read it", async () => {
    const port = fleet.redis.port;
    expect(redisCli(port, "SMEMBERS", "agents:active").split("\n").sort()).toEqual([
      "coord-node",
      "laptop",
      "linux-box",
    ]);
    expect(redisCli(port, "HGET", "agent:linux-box", "host")).not.toBe("");
    expect(JSON.parse(redisCli(port, "HGET", "agent:linux-box", "capabilities"))).toContain("docker");
    expect(Number(redisCli(port, "PTTL", "agent:laptop:heartbeat"))).toBeGreaterThan(0);
    const heartbeat = JSON.parse(redisCli(port, "GET", "agent:laptop:heartbeat")) as Record<string, unknown>;
    expect(heartbeat).toMatchObject({
      from: "laptop",
      type: "heartbeat",
      status: expect.stringMatching(/ready|busy/),
    });
    expect(new Date(String(heartbeat.timestamp)).toISOString()).toBe(heartbeat.timestamp);
  });

  it("answers a discovery query a bridge publishes on Redis", async () => {
    const subscriber = new Redis(fleet.redis.port, "127.0.0.1");
    try {
      const answered = new Promise<Record<string, unknown>>((resolve) => {
        subscriber.on("message", (_channel, raw: string) =>
          resolve(JSON.parse(raw) as Record<string, unknown>),
        );
      });
      await subscriber.subscribe("agents:discovery:response");
      redisCli(
        fleet.redis.port,
        "PUBLISH",
        "agents:discovery:query",
        JSON.stringify({ id: "q-1", from: "py-bridge", want: { capabilities: ["docker"] } }),
      );
      const response = await answered;
      expect(response).toMatchObject({ from: "coordinator", type: "discovery.response", replyTo: "q-1" });
      expect((response.nodes as { id: string }[]).map((node) => node.id)).toEqual(["linux-box"]);
    } finally {
      subscriber.disconnect();
    }
  });

  it("serves health, and Prometheus metrics to a bearer token only", async () => {
    const base = fleet.coordinator.url.replace("ws:", "http:");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const refused = await fetch(`${base}/metrics`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "E_UNAUTHORIZED" });
    const wrong = await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong" } });
    expect(wrong.status).toBe(401);
    const answer = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${fleet.token}` } });
    expect(answer.status).toBe(200);
    const metrics = await answer.text();
    expect(metrics).toContain("flotilla_tasks_submitted_total");
    expect(metrics).toContain('flotilla_node_slots{node="linux-box",kind="total"} 2');
  });
});

/** True while `pid` runs; a zombie (killed, not yet reaped by an init that may never reap) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  let stat = "";
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}
