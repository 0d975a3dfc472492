/**
 * What the protocol and the SDK need from the platform, written so it runs in Node.js and in a browser
 * alike: random ids (Web Crypto, which both have) and the token a browser's WebSocket carries in its
 * subprotocol list, since a browser cannot set an `Authorization` header on the upgrade.
 */

/** The subprotocol a browser client asks for; the coordinator answers with it. */
export const WS_SUBPROTOCOL = "flotilla.v1";

/** Prefix of the subprotocol entry that carries a bearer token, base64url-encoded. */
export const TOKEN_SUBPROTOCOL_PREFIX = "flotilla.bearer.";

/**
 * A random UUID (v4). `crypto.randomUUID` where the platform offers it; a page served over plain HTTP to
 * another machine has only `crypto.getRandomValues`, from which the same format is built.
 */
export function randomId(): string {
  const webCrypto = globalThis.crypto;
  if (typeof webCrypto.randomUUID === "function") return webCrypto.randomUUID();
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The subprotocol entry that carries `token` (subprotocol names allow base64url's alphabet only). */
export function tokenSubprotocol(token: string): string {
  const bytes = new TextEncoder().encode(token);
  const base64 = btoa(String.fromCharCode(...bytes));
  return TOKEN_SUBPROTOCOL_PREFIX + base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The token carried in a `Sec-WebSocket-Protocol` header's list, or undefined when there is none. */
export function tokenFromSubprotocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const entry of header.split(",")) {
    const name = entry.trim();
    if (!name.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) continue;
    const encoded = name.slice(TOKEN_SUBPROTOCOL_PREFIX.length).replace(/-/g, "+").replace(/_/g, "/");
    try {
      const binary = atob(encoded);
      return new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(binary, (c) => c.charCodeAt(0)),
      );
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The UTF-8 length of `text`. */
export function utf8Length(text: string): number {
  return typeof Buffer === "undefined"
    ? new TextEncoder().encode(text).byteLength
    : Buffer.byteLength(text, "utf8");
}
