/**
 * A stand-in for a coordinator in standby, as clients and agents meet one: `GET /healthz` answers
 * `{"role":"standby"}` and every WebSocket upgrade is refused with HTTP 503. Tests of URL lists put it
 * before or after a real coordinator to check that callers pass over it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A running standby double. */
export interface StandbyDouble {
  /** `ws://127.0.0.1:<port>`. */
  readonly url: string;
  /** How many WebSocket upgrades it has refused. */
  readonly upgrades: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts a {@link StandbyDouble} on a free loopback port. */
export async function startStandbyDouble(): Promise<StandbyDouble> {
  let upgrades = 0;
  const server: Server = createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok","role":"standby"}');
    } else {
      response.writeHead(503).end();
    }
  });
  server.on("upgrade", (_request, socket) => {
    upgrades += 1;
    socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    get upgrades() {
      return upgrades;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
