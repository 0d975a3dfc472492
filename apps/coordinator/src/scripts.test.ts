import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { EAGER_BATCH, REPLY_TTL_MS, ScriptRunner } from "./scripts.js";

/** Enough of an ioredis client to see the batches: each command answers every call with "ok". */
function fakeRedis() {
  const batches: number[] = [];
  const redis = {
    status: "ready",
    sendCommand(command: { args: unknown[]; toWritable(): Buffer }) {
      // Each call of these tests has the one argument "call": counting it in the RESP text counts the calls.
      const calls = (
        command
          .toWritable()
          .toString()
          .match(/\$4\r\ncall\r\n/g) ?? []
      ).length;
      batches.push(calls);
      return Promise.resolve(Array.from({ length: calls }, () => [1, "ok"]).flat());
    },
  };
  return { redis: redis as unknown as Redis, batches };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("ScriptRunner", () => {
  it("sends the calls of one turn as one batch, and each EAGER_BATCH calls at once in a long turn", async () => {
    const { redis, batches } = fakeRedis();
    const runner = new ScriptRunner(redis);
    const replies = Array.from({ length: EAGER_BATCH + 5 }, () =>
      runner.run("output-2", ["a", "b"], ["call"]),
    );
    expect(batches).toEqual([EAGER_BATCH]);
    await nextTurn();
    expect(batches).toEqual([EAGER_BATCH, 5]);
    expect(await Promise.all(replies)).toEqual(replies.map(() => "ok"));
    runner.run("output-2", ["a", "b"], ["call"]);
    runner.run("output-2", ["a", "b"], ["call"]);
    await nextTurn();
    expect(batches).toEqual([EAGER_BATCH, 5, 2]);
  });
});

/** The arguments of one RESP command (`*N` then `$len` and the bytes of each). */
function respArguments(command: Buffer): string[] {
  const lines = command.toString().split("\r\n");
  const count = Number(lines[0]?.slice(1));
  return Array.from({ length: count }, (_, i) => lines[2 + 2 * i] as string);
}

describe("ScriptRunner request ids and fencing", () => {
  it("gives each batch its own request id, the fencing token, and the answered batches' reply keys", async () => {
    const sent: string[][] = [];
    const redis = {
      status: "ready",
      sendCommand(command: { toWritable(): Buffer }) {
        const args = respArguments(command.toWritable());
        sent.push(args);
        const calls = Number(args[3 + Number(args[2])]);
        return Promise.resolve(Array.from({ length: calls }, () => [1, 0]).flat());
      },
    } as unknown as Redis;
    let next = 0;
    const runner = new ScriptRunner(redis, {
      fenceKey: "fence",
      replyKey: (id) => `reply:${id}`,
      requestId: () => `id${++next}`,
    });
    await runner.run("output-2", ["a", "b"], ["1"]);
    runner.setFencingToken("9");
    await runner.run("lease-2", ["q", "r"], ["n"]);
    await runner.run("submit-7", ["1", "2", "3", "4", "5", "6", "7"], ["s"]);
    // evalsha, sha, key count, fence key, reply key, answered reply keys…, calls, token, TTL, answered count.
    expect(sent.map((args) => args.slice(2, 5))).toEqual([
      ["4", "fence", "reply:id1"],
      ["5", "fence", "reply:id2"],
      ["10", "fence", "reply:id3"],
    ]);
    expect(sent[0]?.slice(7, 11)).toEqual(["1", "", String(REPLY_TTL_MS), "0"]);
    // The first batch was answered: the second deletes its reply.
    expect(sent[1]?.slice(5, 10)).toEqual(["reply:id1", "q", "r", "1", "9"]);
    // Only repeatable calls: no reply kept (TTL 0).
    expect(sent[2]?.slice(5, 6)).toEqual(["reply:id2"]);
    expect(sent[2]?.slice(13, 17)).toEqual(["1", "9", "0", "1"]);
  });

  it("rejects every call of a fenced batch with E_NOT_LEADER", async () => {
    const redis = {
      status: "ready",
      sendCommand: () => Promise.reject(new Error("FENCED fencing token 1 is not the current one (2)")),
    } as unknown as Redis;
    const runner = new ScriptRunner(redis);
    const refused = await runner.run("output-2", ["a", "b"], ["1"]).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "E_NOT_LEADER" });
  });
});
