import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy that a scenario puts between the coordinator and its Redis, so the link can be cut and
 * restored without touching either process. It owns the listening socket and every pair of connections
 * through it: `cut()` destroys them all and refuses new ones (each is accepted and closed at once, as a
 * reset link looks to a client), `resume()` lets new connections through again. `loseReplies()` before a
 * cut makes it the worst kind: commands still reach Redis and run, their replies never come back, so a
 * client that resends unanswered commands after reconnecting runs them twice.
 */
export class TcpProxy {
  private readonly pairs = new Set<Socket>();
  private open = true;
  private repliesLost = false;
  /** Times `cut()` was called. */
  cuts = 0;

  private constructor(
    private readonly server: Server,
    /** The port the proxy listens on (loopback). */
    readonly port: number,
  ) {}

  /** Starts a proxy on a free loopback port that forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no TCP address");
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  /** The address to give a Redis client instead of the target's. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Destroys every connection through the proxy and refuses new ones until {@link resume}. */
  cut(): void {
    this.open = false;
    this.repliesLost = false;
    this.cuts += 1;
    for (const socket of this.pairs) socket.destroy();
    this.pairs.clear();
  }

  /** Until the next {@link cut}, forwards commands to Redis but drops what Redis answers. */
  loseReplies(): void {
    this.repliesLost = true;
  }

  /** Lets new connections through again. */
  resume(): void {
    this.open = true;
  }

  /** Closes the proxy and every connection through it. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    if (!this.open) {
      client.destroy();
      return;
    }
    const upstream = createConnection(target.port, target.host);
    const pair = [client, upstream];
    for (const socket of pair) {
      this.pairs.add(socket);
      socket.setNoDelay(true);
      // Either end going away takes the other with it, as a broken link would.
      socket.once("close", () => {
        this.pairs.delete(socket);
        for (const other of pair) other.destroy();
      });
      socket.on("error", () => {});
    }
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!this.repliesLost) client.write(chunk);
    });
  }
}
