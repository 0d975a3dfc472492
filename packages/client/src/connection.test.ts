import { EventEmitter } from "node:events";
import type { FlotillaError } from "@flotilla/protocol";
import { describe, expect, it, vi } from "vitest";
import { Connection, type ConnectionOptions, type WebSocketLike } from "./connection.js";

/** How a scripted socket answers its dial; `silent` never answers (a black-holed address). */
type Answer = "open" | "refused" | "standby" | "silent";

/** A socket that answers its dial the way `answers` says for its URL, a microtask later, as `ws` would. */
class ScriptedSocket implements WebSocketLike {
  readyState = 0;
  readonly #events = new EventEmitter();
  constructor(answer: Answer) {
    queueMicrotask(() => {
      if (answer === "open") {
        this.readyState = 1;
        this.#events.emit("open");
      } else if (answer === "refused") {
        this.#events.emit(
          "error",
          Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
        );
        this.#events.emit("close");
      } else if (answer === "standby") {
        this.#events.emit("unexpected-response", {}, { statusCode: 503 });
      }
    });
  }
  on(event: string, listener: (...args: never[]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }
  send(): void {}
  close(): void {
    this.terminate();
  }
  ping(): void {}
  terminate(): void {
    const wasOpen = this.readyState === 1;
    this.readyState = 3;
    queueMicrotask(() => {
      if (!wasOpen)
        this.#events.emit("error", new Error("WebSocket was closed before the connection was established"));
      this.#events.emit("close");
    });
  }
}

/** A connection over scripted sockets, with the URLs it dialled and what it told its owner. */
function scripted(answers: Record<string, Answer>, reconnect: ConnectionOptions["reconnect"]) {
  const dialled: string[] = [];
  const sockets: ScriptedSocket[] = [];
  const events: string[] = [];
  let closedWith: FlotillaError | undefined;
  const connection = new Connection(
    {
      urls: Object.keys(answers),
      token: undefined,
      ca: undefined,
      reconnect,
      pingIntervalMs: 60_000,
      dialTimeoutMs: 1_000,
      createSocket: (url) => {
        dialled.push(url);
        const socket = new ScriptedSocket(answers[url] ?? "refused");
        sockets.push(socket);
        return socket;
      },
      clock: Date.now,
      // The middle of each backoff range: attempt 0 waits 500 ms, attempt 1 1000 ms.
      random: () => 0.5,
    },
    {
      onOpen: (reconnected) => events.push(reconnected ? "reopen" : "open"),
      onFrame: () => {},
      onDown: () => events.push("down"),
      onClosed: (error) => {
        closedWith = error;
        events.push("closed");
      },
    },
  );
  return { connection, dialled, sockets, events, closed: () => closedWith, answers };
}

/** Lets the scripted sockets' microtasks run, several dials deep. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn++) await Promise.resolve();
}

describe("Connection with several URLs", () => {
  it("dials each URL in turn without waiting, and backs off only after a whole round fails", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const { connection, dialled, events } = scripted(
        { "ws://a": "refused", "ws://b": "standby", "ws://c": "refused" },
        { baseMs: 1_000, maxMs: 10_000, giveUpAfterMs: 60_000 },
      );
      connection.start();
      await settle();
      expect(dialled).toEqual(["ws://a", "ws://b", "ws://c"]);
      vi.advanceTimersByTime(499);
      await settle();
      expect(dialled).toHaveLength(3);
      vi.advanceTimersByTime(1);
      await settle();
      expect(dialled).toEqual(["ws://a", "ws://b", "ws://c", "ws://a", "ws://b", "ws://c"]);
      // The second round failed too: attempt 1 waits twice as long.
      vi.advanceTimersByTime(999);
      await settle();
      expect(dialled).toHaveLength(6);
      expect(events).toEqual([]);
      connection.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("starts each reconnect at the URL that last opened", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const { connection, dialled, events, answers } = scripted(
        { "ws://a": "standby", "ws://b": "open", "ws://c": "open" },
        { baseMs: 1_000, maxMs: 10_000, giveUpAfterMs: 60_000 },
      );
      connection.start();
      await settle();
      expect(dialled).toEqual(["ws://a", "ws://b"]);
      expect(events).toEqual(["open"]);
      connection.drop();
      await settle();
      vi.advanceTimersByTime(500);
      await settle();
      expect(dialled).toEqual(["ws://a", "ws://b", "ws://b"]);
      // b becomes a standby and c takes over: the round goes b, c.
      answers["ws://b"] = "standby";
      connection.drop();
      await settle();
      vi.advanceTimersByTime(500);
      await settle();
      expect(dialled.slice(3)).toEqual(["ws://b", "ws://c"]);
      expect(events).toEqual(["open", "down", "reopen", "down", "reopen"]);
      connection.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up after a failed round when reconnecting is off, naming every URL and why", async () => {
    const { connection, dialled, closed } = scripted({ "ws://a": "refused", "ws://b": "standby" }, false);
    connection.start();
    await settle();
    expect(dialled).toEqual(["ws://a", "ws://b"]);
    expect(closed()?.code).toBe("E_COORDINATOR_UNAVAILABLE");
    expect(closed()?.message).toMatch(
      /any of ws:\/\/a \(connection refused\), ws:\/\/b \(HTTP 503: a standby, or not ready\); reconnecting is off/,
    );
  });

  it("moves on from a URL that does not open within dialTimeoutMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const { connection, dialled, events, sockets } = scripted(
        { "ws://a": "silent", "ws://b": "open" },
        { baseMs: 1_000, maxMs: 10_000, giveUpAfterMs: 60_000 },
      );
      connection.start();
      await settle();
      expect(dialled).toEqual(["ws://a"]);
      vi.advanceTimersByTime(1_000);
      await settle();
      expect(dialled).toEqual(["ws://a", "ws://b"]);
      expect(events).toEqual(["open"]);
      expect(sockets[0]?.readyState).toBe(3);
      connection.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
