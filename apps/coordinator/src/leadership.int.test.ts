import { isFlotillaError } from "@flotilla/protocol";
import { waitFor } from "@flotilla/testing";
import { describe, expect, it } from "vitest";
import { redisPerSuite } from "../test/redis.js";
import { coordinatorKeys } from "./keys.js";
import { Leadership, type LeaderTerm, type LossReason } from "./leadership.js";
import { TaskStore } from "./store.js";

const TTL_MS = 1000;
const RENEW_MS = 200;

describe("Leadership (two instances on one real redis-server)", () => {
  const suite = redisPerSuite();

  const pair = (prefix: string) => {
    const keys = coordinatorKeys(prefix);
    const make = (coordinatorId: string) =>
      new Leadership({
        redis: suite.redis,
        leaderKey: keys.leader,
        fenceKey: keys.fence,
        coordinatorId,
        ttlMs: TTL_MS,
        renewIntervalMs: RENEW_MS,
      });
    return { keys, a: make("a"), b: make("b") };
  };

  it("lets one lead; the other takes over after the leader stops renewing, within ttl + one interval", async () => {
    const { keys, a, b } = pair("takeover");
    const elected: LeaderTerm[] = [];
    b.on("elected", (term) => elected.push(term));
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    a.start();
    b.start();
    try {
      // Several renewals later, a still leads and b is still waiting.
      await waitFor(
        async () => (await suite.redis.pttl(keys.leader)) > TTL_MS - RENEW_MS && a.token === "1",
        {
          what: "a renewing",
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 3 * RENEW_MS));
      expect(a.state.kind).toBe("leader");
      expect(b.state.kind).toBe("follower");
      expect(await a.observe()).toEqual({ coordinatorId: "a", token: "1" });

      // a stops renewing (a frozen or killed process).
      a.stop();
      const stoppedAt = Date.now();
      await waitFor(() => elected.length > 0, { what: "b elected", timeoutMs: 5000, intervalMs: 10 });
      const tookMs = Date.now() - stoppedAt;
      expect(elected).toEqual([{ coordinatorId: "b", token: "2" }]);
      // Within the lease's TTL and one renewal interval, with room for a loaded machine's timers.
      expect(tookMs).toBeLessThanOrEqual(TTL_MS + RENEW_MS + 400);
      expect(await b.observe()).toEqual({ coordinatorId: "b", token: "2" });

      // a finds out at its next renewal, and its old token is refused by the scripts.
      const lost: LossReason[] = [];
      a.on("lost", (reason) => lost.push(reason));
      expect(await a.renew()).toBe(false);
      expect(lost).toEqual(["taken"]);
      const store = new TaskStore(suite.redis, keys.store, { idempotencyTtlSeconds: 60, outputCap: 100 });
      store.setFencingToken("1");
      const refused = await store.lease("n", 1, 1).catch((error: unknown) => error);
      expect(isFlotillaError(refused) && refused.code).toBe("E_NOT_LEADER");
      store.setFencingToken("2");
      expect(await store.lease("n", 1, 1)).toEqual({ leases: [], remaining: 0 });
    } finally {
      a.stop();
      await b.lose();
    }
  });

  it("hands the lease over at once when the leader gives it up, and seize takes it from a holder", async () => {
    const { a, b } = pair("handover");
    expect(await a.acquire()).toBe(true);
    await a.lose();
    expect(await b.acquire()).toBe(true);
    const lost: LossReason[] = [];
    b.on("lost", (reason) => lost.push(reason));
    const term = await a.seize();
    expect(term.coordinatorId).toBe("a");
    expect(Number(term.token)).toBeGreaterThan(Number(b.token));
    expect(await b.renew()).toBe(false);
    expect(lost).toEqual(["taken"]);
    await a.lose();
  });

  it("counts itself deposed when no renewal got through for a whole ttl", async () => {
    let now = 0;
    let tick: (() => void) | undefined;
    const keys = coordinatorKeys("expired");
    const leadership = new Leadership({
      redis: suite.redis,
      leaderKey: keys.leader,
      fenceKey: keys.fence,
      coordinatorId: "c",
      ttlMs: TTL_MS,
      renewIntervalMs: RENEW_MS,
      clock: {
        now: () => now,
        every: (_ms, run) => {
          tick = run;
          return () => {
            tick = undefined;
          };
        },
      },
    });
    const lost: LossReason[] = [];
    leadership.on("lost", (reason) => lost.push(reason));
    expect(await leadership.acquire()).toBe(true);
    leadership.start();
    now = TTL_MS;
    tick?.();
    expect(lost).toEqual(["expired"]);
    expect(leadership.token).toBeUndefined();
    // Redis answers again and no one took the lease meanwhile: the same term, the same fencing token.
    const elected: LeaderTerm[] = [];
    leadership.on("elected", (term) => elected.push(term));
    await waitFor(
      () => {
        tick?.();
        return elected.length > 0;
      },
      { what: "the term taken back" },
    );
    expect(elected).toEqual([{ coordinatorId: "c", token: "1" }]);
    expect(await suite.redis.get(keys.fence)).toBe("1");
    leadership.stop();
  });

  it("takes the lease again under the same term when only the lease key expired", async () => {
    const { keys, a } = pair("same-term");
    expect(await a.acquire()).toBe(true);
    await suite.redis.del(keys.leader);
    expect(await a.renew()).toBe(true);
    expect(await a.observe()).toEqual({ coordinatorId: "a", token: "1" });
    // Redis emptied: the counter is gone too.
    const lost: LossReason[] = [];
    a.on("lost", (reason) => lost.push(reason));
    await suite.redis.del(keys.leader, keys.fence);
    expect(await a.renew()).toBe(false);
    expect(lost).toEqual(["vanished"]);
  });
});
