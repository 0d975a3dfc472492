import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { EAGER_BATCH, ScriptRunner } from "./scripts.js";

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
