import { isFlotillaError, type MessageOf, type TaskSpecInput } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connect, type FlotillaClient } from "./client.js";
import type { ConnectOptions } from "./client-options.js";
import type { WebSocketLike } from "./connection.js";
import { FakeCoordinator, type FakeCoordinatorOptions, localRunner } from "./testing.js";
import type { FleetEvent, OutputChunk } from "./wire.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  fakeOptions: FakeCoordinatorOptions = {},
  clientOptions: Partial<ConnectOptions> = {},
): Promise<{ fake: FakeCoordinator; client: FlotillaClient }> {
  const fake = await FakeCoordinator.start(fakeOptions);
  cleanups.push(() => fake.close());
  const client = await connect({ url: fake.url, reconnect: { baseMs: 10, maxMs: 40 }, ...clientOptions });
  cleanups.push(() => client.close());
  return { fake, client };
}

describe("FlotillaClient against a coordinator double", () => {
  it("submits a command, streams its output and reports the exit code", async () => {
    const { client } = await setup({ runner: localRunner });
    const handle = await client.submit({
      kind: "exec",
      argv: ["sh", "-c", "echo out; echo err >&2; exit 3"],
    });
    expect(handle.duplicate).toBe(false);
    const chunks: OutputChunk[] = [];
    for await (const chunk of handle.output()) chunks.push(chunk);
    const text = (stream: string) =>
      chunks
        .filter((chunk) => chunk.stream === stream)
        .map((chunk) => chunk.data)
        .join("");
    expect(text("stdout")).toBe("out\n");
    expect(text("stderr")).toBe("err\n");
    const result = await handle.result();
    expect(result).toMatchObject({ state: "failed", exitCode: 3 });
  });

  it("adds an idempotency key so a resent submit is recognised", async () => {
    const { fake, client } = await setup();
    await client.submit({ kind: "exec", argv: ["true"] });
    const spec = fake.requests("task.submit")[0]?.spec;
    expect(spec?.idempotencyKey).toMatch(new RegExp(`^${client.clientId}:`));
    const again = await client.submit({ kind: "exec", argv: ["true"], idempotencyKey: "k1" });
    const twice = await client.submit({ kind: "exec", argv: ["true"], idempotencyKey: "k1" });
    expect(twice.id).toBe(again.id);
    expect(twice.duplicate).toBe(true);
  });

  it("resumes output after a dropped connection with no chunk lost or repeated", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["long"] });
    fake.setState(handle.id, "running", { node: "n1" });
    const received: number[] = [];
    const reading = (async () => {
      for await (const chunk of handle.output()) received.push(Number(chunk.data));
    })();
    for (let i = 0; i < 5; i++) fake.output(handle.id, "stdout", String(i));
    await waitFor(() => received.length === 5, { what: "first chunks" });
    fake.dropClients();
    // Output produced while the client is away is stored and must be replayed.
    for (let i = 5; i < 10; i++) fake.output(handle.id, "stdout", String(i));
    await waitFor(() => client.connected && received.length === 10, { what: "replayed chunks" });
    for (let i = 10; i < 15; i++) fake.output(handle.id, "stdout", String(i));
    fake.setState(handle.id, "succeeded", { exitCode: 0 });
    await reading;
    expect(received).toEqual(Array.from({ length: 15 }, (_, i) => i));
    const watches = fake.requests("task.watch");
    expect(watches.map((message) => message.fromSeq)).toEqual([0, 5]);
  });

  it("follows a retry on another node, whose seq restarts at 0, live and across a reconnect", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["flaky"] });
    const received: string[] = [];
    const reading = (async () => {
      for await (const chunk of handle.output()) received.push(`${chunk.epoch}:${chunk.seq}:${chunk.data}`);
    })();
    fake.setState(handle.id, "running", { epoch: 1 });
    fake.output(handle.id, "stdout", "a");
    fake.output(handle.id, "stdout", "b");
    await waitFor(() => received.length === 2, { what: "first run" });
    fake.setState(handle.id, "running", { epoch: 2, attempt: 2, node: "n2" });
    fake.output(handle.id, "stdout", "c");
    await waitFor(() => received.length === 3, { what: "second run" });
    fake.dropClients();
    // The third run starts and gets ahead while the client is away.
    fake.setState(handle.id, "running", { epoch: 3, attempt: 3, node: "n3" });
    for (const data of ["d", "e", "f"]) fake.output(handle.id, "stdout", data);
    await waitFor(() => received.length === 6, { what: "third run after reconnect" });
    fake.setState(handle.id, "succeeded", { exitCode: 0 });
    await reading;
    expect(received).toEqual(["1:0:a", "1:1:b", "2:0:c", "3:0:d", "3:1:e", "3:2:f"]);
  });

  it("survives a coordinator restart mid-stream", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["long"] });
    const received: string[] = [];
    const reading = (async () => {
      for await (const chunk of handle.output()) received.push(chunk.data);
    })();
    fake.output(handle.id, "stdout", "a");
    await waitFor(() => received.length === 1, { what: "first chunk" });
    await fake.stop();
    fake.output(handle.id, "stderr", "b");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await fake.listen();
    fake.output(handle.id, "stdout", "c");
    await waitFor(() => received.length === 3, { what: "all chunks" });
    fake.setState(handle.id, "succeeded", { exitCode: 0 });
    await reading;
    expect(received).toEqual(["a", "b", "c"]);
  });

  it("lets independent subscribers start at their own sequence numbers", async () => {
    const { fake, client } = await setup();
    const record = fake.addTask({ kind: "exec", argv: ["x"] }, "running");
    for (let i = 0; i < 4; i++) fake.output(record.id, "stdout", String(i));
    const late = client.watch(record.id, { fromSeq: 2 });
    const all = client.watch(record.id);
    const collect = async (iterable: AsyncIterable<OutputChunk>) => {
      const seqs: number[] = [];
      for await (const chunk of iterable) seqs.push(chunk.seq);
      return seqs;
    };
    const lateSeqs = collect(late.output());
    const allSeqs = collect(all.output());
    await waitFor(() => fake.received.filter((message) => message.type === "task.watch").length === 2, {
      what: "watches",
    });
    fake.output(record.id, "stdout", "4");
    fake.setState(record.id, "succeeded", { exitCode: 0 });
    expect(await lateSeqs).toEqual([2, 3, 4]);
    expect(await allSeqs).toEqual([0, 1, 2, 3, 4]);
  });

  it("gives the result of a task that finished before anyone watched", async () => {
    const { fake, client } = await setup();
    const record = fake.addTask({ kind: "exec", argv: ["x"] }, "queued");
    fake.setState(record.id, "failed", { exitCode: null, signal: "SIGKILL" });
    const result = await client.watch(record.id).result();
    expect(result).toMatchObject({ state: "failed", exitCode: null, signal: "SIGKILL" });
  });

  it("reports wire errors as typed FlotillaErrors", async () => {
    const { client } = await setup();
    const error = await client.task("nope").catch((caught: unknown) => caught);
    expect(isFlotillaError(error)).toBe(true);
    expect(error).toMatchObject({ code: "E_NOT_FOUND", message: "no task nope" });
    await expect(client.drain("ghost")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("checks a spec before sending it", async () => {
    const { fake, client } = await setup();
    await expect(client.submit({ kind: "exec", argv: ["echo", "a\u0000b"] })).rejects.toMatchObject({
      code: "E_SCHEMA",
      details: { path: "spec.argv.1" },
    });
    expect(fake.requests("task.submit")).toHaveLength(0);
  });

  it("times a request out when no reply comes", async () => {
    const { client } = await setup(
      { intercept: (message) => message.type === "nodes.list" },
      { requestTimeoutMs: 100 },
    );
    const started = Date.now();
    await expect(client.nodes()).rejects.toMatchObject({
      code: "E_COORDINATOR_UNAVAILABLE",
      details: { request: "nodes.list", timeoutMs: 100 },
    });
    // Far below the 30 s default it would otherwise have waited, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(3_000);
    // The session is still usable afterwards.
    await expect(client.tasks()).resolves.toEqual([]);
  });

  it("holds requests while disconnected and sends them after the reconnect", async () => {
    const { fake, client } = await setup();
    await fake.stop();
    await waitFor(() => !client.connected, { what: "disconnect" });
    const pending = client.nodes();
    await new Promise((resolve) => setTimeout(resolve, 50));
    fake.nodes = [
      {
        id: "n1",
        host: "box",
        os: "linux",
        arch: "x64",
        slotsTotal: 4,
        slotsUsed: 1,
        load1: 0.5,
        status: "ready",
        health: "healthy",
        breaker: "closed",
        draining: false,
        labels: {},
        capabilities: ["docker"],
        queued: 0,
      },
    ];
    await fake.listen();
    await expect(pending).resolves.toHaveLength(1);
  });

  it("says a key it made is fresh on the first send of a submit only, not when it sends it again", async () => {
    let held = 0;
    const { fake, client } = await setup({
      // The first submit goes unanswered, and its connection drops: the client sends it again.
      intercept: (message) => {
        if (message.type !== "task.submit") return false;
        held += 1;
        return held === 1;
      },
    });
    const submitted = client.submit({ kind: "exec", argv: ["true"] });
    await waitFor(() => held === 1, { what: "the first send" });
    fake.dropClients();
    await submitted;
    const sends = fake.received.filter((message) => message.type === "task.submit");
    expect(sends).toHaveLength(2);
    const [first, again] = sends as MessageOf<"task.submit">[];
    expect(first?.freshKey).toBe(true);
    expect(again?.freshKey).toBeUndefined();
    expect(again?.spec.idempotencyKey).toBe(first?.spec.idempotencyKey);
    // A key the caller chose may name an older task: never fresh.
    await client.submit({ kind: "exec", argv: ["true"], idempotencyKey: "mine" });
    expect((fake.received.at(-1) as MessageOf<"task.submit">).freshKey).toBeUndefined();
  });

  it("fails a non-idempotent request whose connection drops before the reply", async () => {
    const { fake, client } = await setup({ intercept: (message) => message.type === "broadcast" });
    const sent = client.broadcast("hello");
    await waitFor(() => fake.received.some((message) => message.type === "broadcast"), {
      what: "broadcast sent",
    });
    fake.dropClients();
    await expect(sent).rejects.toMatchObject({ code: "E_COORDINATOR_UNAVAILABLE" });
  });

  it("rejects a wrong token at once without retrying", async () => {
    const fake = await FakeCoordinator.start({ token: "right" });
    cleanups.push(() => fake.close());
    const started = Date.now();
    await expect(connect({ url: fake.url, token: "wrong" })).rejects.toMatchObject({
      code: "E_UNAUTHORIZED",
      message: expect.stringContaining("token rejected by coordinator"),
    });
    // Retrying would go on for the 10 s connect timeout.
    expect(Date.now() - started).toBeLessThan(3_000);
    const client = await connect({ url: fake.url, token: "right" });
    client.close();
  });

  it("refuses a URL that is not a WebSocket URL", async () => {
    await expect(connect({ url: "ws://" })).rejects.toMatchObject({ code: "E_CONFIG" });
    await expect(connect({ url: "http://127.0.0.1:7420" })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("use ws:// or wss://"),
    });
  });

  it("says when nothing answers", async () => {
    const fake = await FakeCoordinator.start();
    const url = fake.url;
    await fake.close();
    await expect(
      connect({ url, connectTimeoutMs: 200, reconnect: { baseMs: 10, maxMs: 20 } }),
    ).rejects.toMatchObject({ code: "E_COORDINATOR_UNAVAILABLE", message: expect.stringContaining(url) });
  });

  it("streams fleet events and renews the subscription after a reconnect", async () => {
    const { fake, client } = await setup();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of client.events()) {
        if (event.type === "broadcast") seen.push(event.message);
        if (seen.length === 2) return;
      }
    })();
    await waitFor(() => fake.received.some((message) => message.type === "events.watch"), {
      what: "events.watch",
    });
    await client.broadcast("one");
    fake.dropClients();
    await waitFor(() => fake.received.filter((message) => message.type === "events.watch").length === 2, {
      what: "rewatch",
    });
    await client.broadcast("two");
    await reading;
    expect(seen).toEqual(["one", "two"]);
  });

  it("drives the dead-letter queue, drain and cancel", async () => {
    const { fake, client } = await setup();
    const record = fake.addTask({ kind: "exec", argv: ["x"] }, "dead_lettered");
    fake.dlq = [{ taskId: record.id, attempts: 3, reason: "node died", at: 1 }];
    expect(await client.dlq.list()).toHaveLength(1);
    expect(await client.dlq.get(record.id)).toMatchObject({ taskId: record.id, attempts: 3 });
    await client.dlq.retry(record.id);
    expect(fake.task(record.id)?.state).toBe("queued");
    expect(await client.dlq.purge()).toMatchObject({ ok: true });
    const running = await client.submit({ kind: "exec", argv: ["sleep"] });
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of running.events()) events.push(event.state);
    })();
    await running.cancel();
    await reading;
    expect(events).toContain("cancelled");
    await expect(running.cancel()).rejects.toMatchObject({ code: "E_CONFLICT" });
  });
});

describe("submit with wait: the outcome pushed as task.done", () => {
  /** The requests a result costs besides the submit. */
  const lookups = (fake: FakeCoordinator) => [
    ...fake.requests("task.watch").map((message) => message.type),
    ...fake.requests("task.get").map((message) => message.type),
  ];

  it("resolves result() from task.done, with no watch and no lookup", async () => {
    const { fake, client } = await setup({ runner: localRunner });
    const handle = await client.submit({ kind: "exec", argv: ["sh", "-c", "exit 4"] });
    expect(fake.requests("task.submit")[0]?.wait).toBe(true);
    const result = await handle.result();
    expect(result).toMatchObject({ id: handle.id, state: "failed", exitCode: 4, signal: null });
    expect(result.record.state).toBe("failed");
    expect(lookups(fake)).toEqual([]);
    // Memoised: a second call is the same outcome and costs nothing either.
    expect(await handle.result()).toBe(result);
    expect(lookups(fake)).toEqual([]);
  });

  it("keeps a task.done that arrives before result() is called", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    fake.setState(handle.id, "succeeded", { exitCode: 0, signal: null });
    // The reply to a later request follows task.done on the same socket: once it is here, so is task.done.
    await client.nodes();
    const result = await handle.result();
    expect(result).toMatchObject({ state: "succeeded", exitCode: 0 });
    expect(lookups(fake)).toEqual([]);
  });

  it("gets task.done for a duplicate submit, also when the task had ended already", async () => {
    const { fake, client } = await setup();
    const spec: TaskSpecInput = { kind: "exec", argv: ["x"], idempotencyKey: "same" };
    const first = await client.submit(spec);
    const second = await client.submit(spec);
    expect(second).toMatchObject({ id: first.id, duplicate: true });
    fake.setState(first.id, "succeeded", { exitCode: 0, signal: null });
    expect(await first.result()).toMatchObject({ state: "succeeded" });
    expect(await second.result()).toMatchObject({ state: "succeeded" });
    const late = await client.submit(spec);
    expect(late.duplicate).toBe(true);
    expect(await late.result()).toMatchObject({ id: first.id, state: "succeeded", exitCode: 0 });
    expect(lookups(fake)).toEqual([]);
  });

  it("with wait: false, sends no wait and result() watches and looks up as before", async () => {
    const { fake, client } = await setup({ runner: localRunner });
    const handle = await client.submit({ kind: "exec", argv: ["sh", "-c", "exit 2"] }, { wait: false });
    expect(fake.requests("task.submit")[0]?.wait).toBeUndefined();
    expect(await handle.result()).toMatchObject({ state: "failed", exitCode: 2 });
    expect(fake.requests("task.watch").map((message) => message.taskId)).toEqual([handle.id]);
    expect(fake.requests("task.get").map((message) => message.taskId)).toEqual([handle.id]);
  });

  it("watches and looks up when the coordinator does not confirm wait (one that predates it)", async () => {
    const { fake, client } = await setup({ runner: localRunner, ignoreWait: true });
    const handle = await client.submit({ kind: "exec", argv: ["sh", "-c", "exit 4"] });
    expect(fake.requests("task.submit")[0]?.wait).toBe(true);
    expect(await handle.result()).toMatchObject({ state: "failed", exitCode: 4 });
    expect(fake.requests("task.watch").map((message) => message.taskId)).toEqual([handle.id]);
  });

  it("falls back to watch and lookup when the connection drops between accepted and done", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    const pending = handle.result();
    await fake.stop();
    await waitFor(() => !client.connected, { what: "disconnect" });
    // The task ends while the client is away: the coordinator's promise lapsed with the old socket, so
    // only the watch (which replays the latest state change) can tell the client.
    fake.setState(handle.id, "succeeded", { exitCode: 0, signal: null });
    await fake.listen();
    expect(await pending).toMatchObject({ id: handle.id, state: "succeeded", exitCode: 0 });
    expect(fake.requests("task.watch").map((message) => message.taskId)).toEqual([handle.id]);
    expect(fake.requests("task.get").map((message) => message.taskId)).toEqual([handle.id]);
  });

  it("falls back for a result() first called after the connection dropped", async () => {
    const { fake, client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    await fake.stop();
    await waitFor(() => !client.connected, { what: "disconnect" });
    await fake.listen();
    await waitFor(() => client.connected, { what: "reconnect" });
    const pending = handle.result();
    await waitFor(() => fake.requests("task.watch").length === 1, { what: "task.watch" });
    fake.setState(handle.id, "cancelled");
    expect(await pending).toMatchObject({ state: "cancelled" });
  });

  it("falls back to watch and lookup when a task.done cannot be read", async () => {
    const { fake, client } = await setup({
      intercept: (message, socket, coordinator) => {
        if (message.type !== "task.submit") return false;
        const record = coordinator.addTask(message.spec, "running");
        const envelope = { v: 1, timestamp: new Date().toISOString(), from: "coordinator" };
        const accepted = { replyTo: message.id, taskId: record.id, duplicate: false, state: "running" };
        socket.send(JSON.stringify({ ...envelope, type: "task.accepted", id: "c-1", ...accepted }));
        // A record without most of its fields: the frame fails the schema.
        socket.send(
          JSON.stringify({ ...envelope, type: "task.done", id: "c-2", taskId: record.id, record: {} }),
        );
        return true;
      },
    });
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    const pending = handle.result();
    await waitFor(() => fake.requests("task.watch").length === 1, { what: "task.watch" });
    fake.setState(handle.id, "succeeded", { exitCode: 0, signal: null });
    expect(await pending).toMatchObject({ id: handle.id, state: "succeeded", exitCode: 0 });
    expect(fake.requests("task.get")).toHaveLength(1);
  });

  it("fails a pending result() when the client closes before task.done", async () => {
    const { client } = await setup();
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    const pending = handle.result();
    client.close();
    await expect(pending).rejects.toMatchObject({ code: "E_COORDINATOR_UNAVAILABLE" });
  });

  it("does not hand task.done to events() subscribers", async () => {
    const { fake, client } = await setup();
    const seen: FleetEvent[] = [];
    const reading = (async () => {
      for await (const event of client.events()) {
        seen.push(event);
        if (event.type === "broadcast") return;
      }
    })();
    await waitFor(() => fake.requests("events.watch").length === 1, { what: "events.watch" });
    const handle = await client.submit({ kind: "exec", argv: ["x"] });
    fake.setState(handle.id, "succeeded", { exitCode: 0, signal: null });
    await handle.result();
    await client.broadcast("after");
    await reading;
    expect(seen.map((event) => event.type)).toEqual(["task.event", "broadcast"]);
  });
});

describe("the wire: batched frames and cheap internal requests", () => {
  it("writes the frames of one turn together, after the turn", async () => {
    const fake = await FakeCoordinator.start();
    cleanups.push(() => fake.close());
    const log: string[] = [];
    const createSocket = (url: string, options: { headers: Record<string, string> }): WebSocketLike => {
      const socket = new WebSocket(url, options);
      const send = socket.send.bind(socket);
      socket.send = ((data: string) => {
        log.push(`send ${(JSON.parse(data) as { type: string }).type}`);
        send(data);
      }) as typeof socket.send;
      socket.on("open", () => {
        const raw = (socket as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
        const { cork, uncork } = raw;
        // `ws` corks around each frame itself; only the outermost cork decides when bytes leave.
        let depth = 0;
        raw.cork = () => {
          if (depth++ === 0) log.push("cork");
          cork.call(raw);
        };
        raw.uncork = () => {
          if (--depth === 0) log.push("uncork");
          uncork.call(raw);
        };
      });
      return socket;
    };
    const client = await connect({ url: fake.url, WebSocket: createSocket });
    cleanups.push(() => client.close());
    log.length = 0;
    const answers = Promise.all([client.nodes(), client.tasks(), client.dlq.list()]);
    expect(log).toEqual([]);
    await answers;
    expect(log).toEqual(["cork", "send nodes.list", "send tasks.list", "send dlq.list", "uncork"]);
  });

  it("sends what was queued before close()", async () => {
    const { fake, client } = await setup();
    const record = fake.addTask({ kind: "exec", argv: ["x"] }, "running");
    client.cancel(record.id).catch(() => {});
    client.close();
    await waitFor(() => fake.requests("task.cancel").length === 1, { what: "task.cancel" });
    await waitFor(() => fake.task(record.id)?.state === "cancelled", { what: "cancelled" });
  });

  it("still checks a task id or sequence number that came from the caller", async () => {
    const { fake, client } = await setup();
    await expect(client.task("no spaces allowed")).rejects.toMatchObject({
      code: "E_SCHEMA",
      details: { path: "taskId" },
    });
    const events = client.watch("t-1", { fromSeq: -1 }).output();
    await expect(
      (async () => {
        for await (const _ of events) return;
      })(),
    ).rejects.toMatchObject({ code: "E_SCHEMA", details: { path: "fromSeq" } });
    expect(fake.requests("task.get")).toEqual([]);
    expect(fake.requests("task.watch")).toEqual([]);
  });
});
