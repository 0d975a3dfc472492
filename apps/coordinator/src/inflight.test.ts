import { describe, expect, it } from "vitest";
import { InFlight } from "./inflight.js";

describe("InFlight", () => {
  it("is idle at once when nothing is under way", async () => {
    const work = new InFlight();
    await expect(work.idle()).resolves.toBeUndefined();
    expect(work.size).toBe(0);
  });

  it("resolves idle() only when the last piece of work leaves", async () => {
    const work = new InFlight();
    work.enter();
    work.enter();
    let idle = false;
    const waiting = work.idle().then(() => {
      idle = true;
    });
    work.leave();
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(work.size).toBe(1);
    work.leave();
    await waiting;
    expect(idle).toBe(true);
  });

  it("waits for work that started after idle() was asked for, while the count never reached zero", async () => {
    const work = new InFlight();
    work.enter();
    let idle = false;
    const waiting = work.idle().then(() => {
      idle = true;
    });
    work.enter();
    work.leave();
    await Promise.resolve();
    expect(idle).toBe(false);
    work.leave();
    await waiting;
    expect(idle).toBe(true);
  });

  it("answers every waiter, and later waiters of a later busy spell separately", async () => {
    const work = new InFlight();
    work.enter();
    const first = [work.idle(), work.idle()];
    work.leave();
    await Promise.all(first);
    work.enter();
    let second = false;
    const waiting = work.idle().then(() => {
      second = true;
    });
    await Promise.resolve();
    expect(second).toBe(false);
    work.leave();
    await waiting;
    expect(second).toBe(true);
  });
});
