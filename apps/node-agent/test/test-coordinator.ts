import type { AddressInfo } from "node:net";
import {
  createMessage,
  decode,
  encode,
  type Message,
  type MessageFields,
  type MessageOf,
  type MessageType,
} from "@flotilla/protocol";
import { type WebSocket, WebSocketServer } from "ws";

/**
 * A stand-in for the coordinator in the agent's session tests: a real `ws` server on a random port that
 * checks the bearer token, records every frame the agent sends and lets the test answer. It speaks the
 * contract only as far as a test drives it; it has no scheduling of its own.
 */
export class TestCoordinator {
  readonly received: Message[] = [];
  private readonly server: WebSocketServer;
  private socket: WebSocket | undefined;
  private waiters: Array<() => void> = [];
  /** Called with every received message, after it is recorded. */
  onMessage: ((message: Message) => void) | undefined;
  /** Sent automatically in answer to every hello unless a test replaces it. */
  welcome: (hello: MessageOf<"agent.hello">) => MessageFields<"agent.welcome"> | undefined = (hello) => ({
    nodeId: hello.node.id,
    heartbeatIntervalMs: 50,
    deadAfterMs: 1_000,
    keep: hello.running,
    kill: [],
  });

  private constructor(
    server: WebSocketServer,
    readonly token: string,
  ) {
    this.server = server;
    server.on("connection", (socket) => {
      this.socket = socket;
      socket.on("message", (data) => {
        const decoded = decode(data as Buffer);
        if (!decoded.ok) throw decoded.error;
        this.received.push(decoded.message);
        this.onMessage?.(decoded.message);
        if (decoded.message.type === "agent.hello") {
          const fields = this.welcome(decoded.message);
          if (fields !== undefined) this.send("agent.welcome", fields);
        }
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      });
    });
  }

  /** Starts a server on a free loopback port. */
  static start(token = "test-token"): Promise<TestCoordinator> {
    return TestCoordinator.startOn(0, token);
  }

  /** Starts a server on `port` (a restarted coordinator keeps its address). */
  static async startOn(port: number, token = "test-token"): Promise<TestCoordinator> {
    const server = new WebSocketServer({
      host: "127.0.0.1",
      port,
      path: "/v1/agent",
      verifyClient: (info, done) => done(info.req.headers.authorization === `Bearer ${token}`, 401),
    });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    return new TestCoordinator(server, token);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Sends a message to the connected agent. */
  send<T extends MessageType>(type: T, fields: MessageFields<T>): MessageOf<T> {
    const message = createMessage(type, fields, { from: "coordinator" });
    this.socket?.send(encode(message));
    return message;
  }

  /** Messages of one type received so far. */
  all<T extends MessageType>(type: T): MessageOf<T>[] {
    return this.received.filter((m) => m.type === type) as MessageOf<T>[];
  }

  /** Resolves with the first received message (past or future) that matches, or rejects after `timeoutMs`. */
  async waitFor<T extends MessageType>(
    type: T,
    match: (message: MessageOf<T>) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<MessageOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.all(type).find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading the agent's frames for `ms`, so the agent's socket fills up as on a slow link. */
  pauseReading(ms: number): void {
    const socket = this.socket;
    socket?.pause();
    setTimeout(() => socket?.resume(), ms);
  }

  /** Closes the agent's connection with a close code, as the coordinator does on policy or replacement. */
  closeWith(code: number, reason: string): void {
    this.socket?.close(code, reason);
  }

  /** Cuts the agent's connection abruptly, as a network failure would. */
  dropConnection(): void {
    this.socket?.terminate();
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
