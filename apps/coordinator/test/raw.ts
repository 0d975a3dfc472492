import { execFileSync } from "node:child_process";
import WebSocket from "ws";
import type { TestFleet } from "./fleet.js";

export interface Reply {
  type: string;
  code?: string;
  replyTo?: string;
  details?: Record<string, unknown>;
  taskId?: string;
  record?: Record<string, unknown>;
  state?: string;
}

/** A raw WebSocket that collects what the coordinator sends back. */
export async function rawSocket(fleet: TestFleet, path: "/v1/client" | "/v1/agent", token = fleet.token) {
  const socket = new WebSocket(`${fleet.coordinator.url}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const inbox: Reply[] = [];
  let closeCode: number | undefined;
  socket.on("message", (data) => inbox.push(JSON.parse(String(data)) as Reply));
  const closed = new Promise<number>((resolve) =>
    socket.on("close", (code) => {
      closeCode = code;
      resolve(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  /** The first reply that matches, waiting up to `timeoutMs` (by the clock, not a count of polls). */
  const next = async (predicate: (reply: Reply) => boolean, timeoutMs = 5_000): Promise<Reply> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = inbox.find(predicate);
      if (found) return found;
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no matching reply; inbox: ${JSON.stringify(inbox.slice(-3))}`);
  };
  return { socket, inbox, closed, next, closeCode: () => closeCode };
}

export function envelope(
  type: string,
  fields: Record<string, unknown>,
  id = `m-${Math.random().toString(36).slice(2)}`,
) {
  return { v: 1, type, id, timestamp: new Date().toISOString(), from: "fuzzer", ...fields };
}

/** An `agent.hello` frame for `node` with request id `id`, advertising `capabilities`. */
export function agentHello(node: string, id: string, capabilities: string[] = []) {
  const fingerprint = {
    os: "linux",
    distro: "",
    release: "",
    arch: "x64",
    cpuModel: "",
    cores: 1,
    memoryBytes: 1,
    freeDiskBytes: 1,
    docker: { available: false },
  };
  return {
    ...envelope(
      "agent.hello",
      {
        node: { id: node, host: "h", version: "0", fingerprint, labels: {}, capabilities, slots: 1 },
        running: [],
        handlers: [],
      },
      id,
    ),
    from: node,
  };
}

/** Runs one `redis-cli` command against the test fleet's Redis and returns what it printed. */
export function redisCli(port: number, ...args: string[]): string {
  return execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();
}
