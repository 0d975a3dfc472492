import { describe, expect, it } from "vitest";
import { Channel } from "./channel.js";

describe("Channel", () => {
  it("delivers values pushed before and after the reader starts, then ends", async () => {
    const channel = new Channel<number>();
    channel.push(1);
    const reading = (async () => {
      const values: number[] = [];
      for await (const value of channel) values.push(value);
      return values;
    })();
    channel.push(2);
    channel.end();
    channel.push(3);
    expect(await reading).toEqual([1, 2]);
  });

  it("fails the reader after the buffered values and calls onClose once", async () => {
    let closed = 0;
    const channel = new Channel<number>(() => closed++);
    channel.push(1);
    channel.fail(new Error("boom"));
    channel.end();
    const values: number[] = [];
    await expect(
      (async () => {
        for await (const value of channel) values.push(value);
      })(),
    ).rejects.toThrow("boom");
    expect(values).toEqual([1]);
    expect(closed).toBe(1);
  });

  it("closes when the reader stops early and refuses a second reader", async () => {
    let closed = 0;
    const channel = new Channel<number>(() => closed++);
    channel.push(1);
    channel.push(2);
    for await (const value of channel) if (value === 1) break;
    expect(closed).toBe(1);
    expect(channel.open).toBe(false);
    expect(() => channel[Symbol.asyncIterator]()).toThrow("only once");
  });
});
