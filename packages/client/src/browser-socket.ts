/**
 * The transport seam for browsers: a {@link WebSocketFactory} over the platform's own `WebSocket`, shaped
 * like the part of `ws` that `Connection` uses. Node.js keeps using `ws` (the default); a page passes
 * `browserSocket` as `connect({ WebSocket })`.
 *
 * A browser cannot set headers on the upgrade, so the bearer token travels as a subprotocol entry
 * (`flotilla.bearer.<base64url>`) beside `flotilla.v1`, which the coordinator answers with. It cannot send
 * pings either: the browser answers the coordinator's own, so `ping()` reports the socket alive at once.
 * Nor does it tell a refused token (HTTP 401) from any other failed upgrade; a page checks the token over
 * HTTP first (`GET /v1/whoami`).
 */
import { tokenSubprotocol, WS_SUBPROTOCOL } from "@flotilla/protocol";
import type { WebSocketFactory, WebSocketLike } from "./connection.js";

type Listener = (...args: never[]) => void;

/** A socket for `url` over `globalThis.WebSocket`, the token (from the `authorization` header) in its subprotocols. */
export const browserSocket: WebSocketFactory = (url, options) => {
  const bearer = /^Bearer\s+(.+)$/i.exec(options.headers.authorization ?? "")?.[1];
  const protocols = bearer === undefined ? [WS_SUBPROTOCOL] : [WS_SUBPROTOCOL, tokenSubprotocol(bearer)];
  return new BrowserSocket(new globalThis.WebSocket(url, protocols));
};

class BrowserSocket implements WebSocketLike {
  readonly #socket: WebSocket;
  readonly #pongListeners: Listener[] = [];

  constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  get readyState(): number {
    return this.#socket.readyState;
  }

  send(data: string): void {
    this.#socket.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }

  /** A browser has no abrupt close; a normal one still ends in `close`, which is what callers wait for. */
  terminate(): void {
    this.#socket.close();
  }

  ping(): void {
    queueMicrotask(() => {
      for (const listener of this.#pongListeners) (listener as () => void)();
    });
  }

  on(event: string, listener: Listener): this {
    const call = listener as (...args: unknown[]) => void;
    switch (event) {
      case "open":
        this.#socket.addEventListener("open", () => call());
        break;
      case "message":
        this.#socket.addEventListener("message", (message) => {
          if (typeof message.data === "string") call(message.data, false);
        });
        break;
      case "error":
        this.#socket.addEventListener("error", () => call(new Error("WebSocket error")));
        break;
      case "close":
        this.#socket.addEventListener("close", (closed) => call(closed.code, closed.reason));
        break;
      case "pong":
        this.#pongListeners.push(listener);
        break;
      default:
        // `unexpected-response` has no counterpart: a browser hides the HTTP status of a failed upgrade.
        break;
    }
    return this;
  }
}
