import { decode } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { FrameWriter } from "./frames.js";

describe("FrameWriter", () => {
  it("writes task.accepted as the protocol reads it, with and without waiting", () => {
    const frames = new FrameWriter(() => Date.UTC(2026, 11, 6, 10, 0, 0, 5));
    const waiting = decode(frames.accepted('client-"1', "t-1", false, "leased", true));
    expect(waiting.ok && waiting.message).toMatchObject({
      type: "task.accepted",
      from: "coordinator",
      timestamp: "2026-12-06T10:00:00.005Z",
      replyTo: 'client-"1',
      taskId: "t-1",
      duplicate: false,
      state: "leased",
      waiting: true,
    });
    const plain = decode(frames.accepted("r2", "t-2", true, "succeeded", false));
    expect(plain.ok).toBe(true);
    if (plain.ok) {
      expect(plain.message).toMatchObject({
        replyTo: "r2",
        taskId: "t-2",
        duplicate: true,
        state: "succeeded",
      });
      expect("waiting" in plain.message).toBe(false);
      expect(plain.message.id).not.toBe(waiting.ok && waiting.message.id);
    }
  });
});
