import { describe, expect, it } from "vitest";
import { AgentClock } from "./agent-clock.js";

const WINDOW = AgentClock.WINDOW_MS;

describe("AgentClock", () => {
  it("gives the fallback until it has seen a message", () => {
    const clock = new AgentClock();
    expect(clock.toLocal(1_000, 5_000, 4_321)).toBe(4_321);
    clock.observe(Number.NaN, 5_000);
    expect(clock.toLocal(1_000, 5_000, 4_321)).toBe(4_321);
  });

  it("maps by the sample with the least delay, whatever the skew", () => {
    const clock = new AgentClock();
    // The agent's clock is an hour behind; its messages took 7, 1 and 4 ms to arrive.
    const skew = 3_600_000;
    clock.observe(10_000 - skew, 10_007);
    clock.observe(10_100 - skew, 10_101);
    clock.observe(10_200 - skew, 10_204);
    expect(clock.toLocal(10_300 - skew, 10_400, 0)).toBe(10_301);
  });

  it("keeps the order and the gap of two instants on the agent, however late each message came", () => {
    const clock = new AgentClock();
    clock.observe(1_000, 1_001);
    // A run ends at 2,000 (agent time) and its finish is held up 6 ms; the next run starts at 2,000 and
    // its accept arrives at once.
    clock.observe(2_000, 2_006);
    const finishedAt = clock.toLocal(2_000, 2_006, 2_006);
    clock.observe(2_001, 2_007);
    const startedAt = clock.toLocal(2_000, 2_007, 2_007);
    expect(startedAt).toBeGreaterThanOrEqual(finishedAt);
    expect(finishedAt).toBe(2_001);
  });

  it("never dates an instant after the message that told of it arrived", () => {
    const clock = new AgentClock();
    clock.observe(1_000, 1_000);
    // The agent's clock jumped ahead by a second.
    clock.observe(3_000, 2_000);
    expect(clock.toLocal(3_000, 2_000, 0)).toBe(2_000);
  });

  it("follows a clock that was stepped, within two windows", () => {
    const clock = new AgentClock();
    for (let t = 0; t < WINDOW; t += 1_000) clock.observe(t, t + 1);
    // From here on the agent's clock is 500 ms behind.
    let now = WINDOW;
    for (; now < 3 * WINDOW; now += 1_000) clock.observe(now - 500 - 1, now);
    expect(clock.toLocal(now - 500, now, 0)).toBe(now);
    expect(clock.toLocal(now - 1_500, now, 0)).toBe(now - 999);
  });
});
