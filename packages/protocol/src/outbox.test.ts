import { describe, expect, it, vi } from "vitest";
import { EAGER_FLUSH_FRAMES, FrameOutbox, type OutboxSocket } from "./outbox.js";

function fakeSocket(): OutboxSocket & { writes: string[][]; corked: number; state: number } {
  let batch: string[] | undefined;
  const socket = {
    writes: [] as string[][],
    corked: 0,
    state: 1,
    get readyState() {
      return socket.state;
    },
    send(data: string) {
      if (batch) batch.push(data);
      else socket.writes.push([data]);
    },
    _socket: {
      cork() {
        socket.corked += 1;
        batch = [];
      },
      uncork() {
        socket.writes.push(batch ?? []);
        batch = undefined;
      },
    },
  };
  return socket;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("FrameOutbox", () => {
  it("writes the frames of one turn together, in order", async () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    outbox.push("a");
    outbox.push("b");
    outbox.push("c");
    expect(socket.writes).toEqual([]);
    await nextTurn();
    expect(socket.writes).toEqual([["a", "b", "c"]]);
    outbox.push("d");
    await nextTurn();
    expect(socket.writes).toEqual([["a", "b", "c"], ["d"]]);
    expect(socket.corked).toBe(1);
  });

  it("writes each EAGER_FLUSH_FRAMES frames at once in a long turn, and the rest when it ends", async () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    const frames = Array.from({ length: 2 * EAGER_FLUSH_FRAMES + 3 }, (_, i) => `f${i}`);
    for (const frame of frames) outbox.push(frame);
    expect(socket.writes).toEqual([
      frames.slice(0, EAGER_FLUSH_FRAMES),
      frames.slice(EAGER_FLUSH_FRAMES, -3),
    ]);
    await nextTurn();
    expect(socket.writes.flat()).toEqual(frames);
    expect(socket.writes).toHaveLength(3);
    const small = new FrameOutbox(fakeSocket(), { flushAt: 2 });
    expect(small.push("x")).toBe(true);
    expect(small.pending).toBe(1);
    small.push("y");
    expect(small.pending).toBe(0);
  });

  it("queues nothing on a socket that is not open and drops frames when it closes", async () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    socket.state = 3;
    expect(outbox.push("a")).toBe(false);
    socket.state = 1;
    expect(outbox.push("b")).toBe(true);
    socket.state = 3;
    await nextTurn();
    expect(socket.writes).toEqual([]);
    expect(outbox.pending).toBe(0);
  });

  it("flushes at once on request", () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    outbox.push("a");
    outbox.flush();
    expect(socket.writes).toEqual([["a"]]);
  });

  it("sends a held frame just ahead of the next one, in the same write", async () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    outbox.hold("ack");
    await nextTurn();
    expect(socket.writes).toEqual([]);
    expect(outbox.pending).toBe(1);
    expect(outbox.held).toBe(1);
    outbox.push("done");
    expect(outbox.held).toBe(0);
    await nextTurn();
    expect(socket.writes).toEqual([["ack", "done"]]);
  });

  it("sends held frames when released, and drops them with the rest when cleared", async () => {
    const socket = fakeSocket();
    const outbox = new FrameOutbox(socket);
    outbox.hold("a");
    outbox.hold("b");
    outbox.release();
    outbox.release();
    await nextTurn();
    expect(socket.writes).toEqual([["a", "b"]]);
    outbox.hold("c");
    outbox.clear();
    outbox.release();
    outbox.push("d");
    await nextTurn();
    expect(socket.writes).toEqual([["a", "b"], ["d"]]);
    socket.state = 3;
    expect(outbox.hold("e")).toBe(false);
  });

  it("sends held frames maxMs after the oldest of them, unless another frame takes them first", () => {
    // Timers faked: on a busy machine a real 10 ms sleep can outlast the 30 ms hold.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate"] });
    try {
      const socket = fakeSocket();
      const outbox = new FrameOutbox(socket);
      outbox.hold("a", 30);
      vi.advanceTimersByTime(10);
      outbox.hold("b", 30);
      vi.advanceTimersByTime(19);
      expect(socket.writes).toEqual([]);
      // The hold ends 30 ms after "a"; the write goes at the end of that turn (an immediate).
      vi.advanceTimersByTime(2);
      expect(socket.writes).toEqual([["a", "b"]]);
      outbox.hold("c", 30);
      outbox.push("d");
      vi.advanceTimersByTime(1);
      expect(socket.writes).toEqual([
        ["a", "b"],
        ["c", "d"],
      ]);
      vi.advanceTimersByTime(60);
      expect(socket.writes).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
