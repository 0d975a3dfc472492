/**
 * Who a bearer token stands for. `TokenAuthority` holds the SHA-256 digests of every token the coordinator
 * accepts (never the tokens themselves), each with a name and a scope, and maps a presented token to its
 * `Principal`. The fleet token (`--token`) is an `admin` token named `fleet`; a node token (`--node-token
 * id=…`) is an `agent:<id>` token named after its node. What each scope may do is in access.ts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { tokenFromSubprotocols } from "@flotilla/protocol";

/** The kinds of scope: `agent` is written `agent:<node-id>`. */
export type ScopeKind = "admin" | "submit" | "read" | "agent";

/** One accepted token as a token file lists it: `hash` is the SHA-256 hex of the token. */
export interface TokenEntry {
  name: string;
  /** `admin`, `submit`, `read` or `agent:<node-id>`. */
  scope: string;
  hash: string;
}

/** Who a connection or request speaks for, decided when its token is checked. */
export interface Principal {
  /** The token's name: the submitter of the tasks it submits. */
  readonly name: string;
  readonly scope: ScopeKind;
  /** For an `agent` scope, the only node it may speak for. */
  readonly nodeId?: string;
}

/** The SHA-256 hex digest of a token, as token files store it. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The scope of `text` (`admin`, `submit`, `read`, `agent:<id>`), or a RangeError naming it. */
export function parseScope(text: string): { scope: ScopeKind; nodeId?: string } {
  if (text === "admin" || text === "submit" || text === "read") return { scope: text };
  if (text.startsWith("agent:") && text.length > "agent:".length) {
    return { scope: "agent", nodeId: text.slice("agent:".length) };
  }
  throw new RangeError(`unknown token scope "${text}" (admin, submit, read or agent:<node-id>)`);
}

interface Known {
  principal: Principal;
  digest: Buffer;
}

/**
 * Checks bearer tokens in constant time. Tokens are compared as SHA-256 digests so their lengths leak
 * nothing either. A node with an agent token of its own can only be spoken for with that token.
 */
export class TokenAuthority {
  private readonly known: Known[] = [];
  private readonly agentNodes = new Set<string>();

  /**
   * `fleetToken` becomes an `admin` token named `fleet`, each of `nodeTokens` an `agent:<id>` token named
   * `<id>`; `entries` come from a token file. Names must be unique: they identify submitters.
   */
  constructor(
    fleetToken: string | undefined,
    nodeTokens: Record<string, string> = {},
    entries: readonly TokenEntry[] = [],
  ) {
    if (fleetToken !== undefined) {
      if (fleetToken.length === 0) throw new RangeError("the fleet token must not be empty");
      this.add({ name: "fleet", scope: "admin" }, tokenHash(fleetToken));
    }
    for (const [nodeId, token] of Object.entries(nodeTokens)) {
      this.add({ name: nodeId, scope: "agent", nodeId }, tokenHash(token));
    }
    for (const entry of entries) {
      if (!/^[0-9a-f]{64}$/i.test(entry.hash))
        throw new RangeError(`token "${entry.name}": hash must be 64 hex digits (SHA-256)`);
      this.add({ name: entry.name, ...parseScope(entry.scope) }, entry.hash);
    }
    if (this.known.length === 0) throw new RangeError("no token is configured");
  }

  private add(principal: Principal, hash: string): void {
    if (principal.name.length === 0) throw new RangeError("a token must have a name");
    if (this.known.some((known) => known.principal.name === principal.name))
      throw new RangeError(`two tokens are named "${principal.name}"`);
    this.known.push({ principal, digest: Buffer.from(hash, "hex") });
    if (principal.nodeId !== undefined) this.agentNodes.add(principal.nodeId);
  }

  /** The principal a presented token stands for, or `undefined` when it matches none. */
  authenticate(token: string | undefined): Principal | undefined {
    if (token === undefined) return undefined;
    const presented = createHash("sha256").update(token).digest();
    let principal: Principal | undefined;
    // Compare against every token, always, so timing does not tell which one matched.
    for (const known of this.known) {
      if (timingSafeEqual(presented, known.digest) && principal === undefined) principal = known.principal;
    }
    return principal;
  }

  /** Whether `principal` may act as the agent of `nodeId`. */
  mayActAsNode(principal: Principal, nodeId: string): boolean {
    if (principal.scope === "agent") return principal.nodeId === nodeId;
    return principal.scope === "admin" && !this.agentNodes.has(nodeId);
  }
}

/** The bearer token of a request, from `Authorization: Bearer <token>`. */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

/**
 * The token of a WebSocket upgrade: the bearer header, else the `flotilla.bearer.` subprotocol entry a
 * browser sends in its place (it cannot set headers on the upgrade).
 */
export function upgradeToken(request: IncomingMessage): string | undefined {
  return bearerToken(request) ?? tokenFromSubprotocols(request.headers["sec-websocket-protocol"]);
}
