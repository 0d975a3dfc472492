import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Who a connection may speak for, decided at the WebSocket upgrade. */
export type Principal =
  /** Holds the fleet token: any client, or an agent of any node without a token of its own. */
  | { kind: "fleet" }
  /** Holds one node's token: may only be that node's agent. */
  | { kind: "node"; nodeId: string };

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/**
 * Checks bearer tokens in constant time. Tokens are compared as SHA-256 digests so their lengths leak
 * nothing either. A node with a token of its own can only be spoken for with that token.
 */
export class TokenAuthority {
  private readonly fleet: Buffer;
  private readonly nodes: { nodeId: string; digest: Buffer }[];

  constructor(fleetToken: string, nodeTokens: Record<string, string> = {}) {
    if (fleetToken.length === 0) throw new RangeError("the fleet token must not be empty");
    this.fleet = digest(fleetToken);
    this.nodes = Object.entries(nodeTokens).map(([nodeId, token]) => ({ nodeId, digest: digest(token) }));
  }

  /** The principal a presented token stands for, or `undefined` when it matches none. */
  authenticate(token: string | undefined): Principal | undefined {
    if (token === undefined) return undefined;
    const presented = digest(token);
    let principal: Principal | undefined;
    // Compare against every token, always, so timing does not tell which one matched.
    if (timingSafeEqual(presented, this.fleet)) principal = { kind: "fleet" };
    for (const node of this.nodes) {
      if (timingSafeEqual(presented, node.digest) && principal === undefined) {
        principal = { kind: "node", nodeId: node.nodeId };
      }
    }
    return principal;
  }

  /** Whether `principal` may act as the agent of `nodeId`. */
  mayActAsNode(principal: Principal, nodeId: string): boolean {
    if (principal.kind === "node") return principal.nodeId === nodeId;
    return !this.nodes.some((node) => node.nodeId === nodeId);
  }
}

/** The bearer token of a request, from `Authorization: Bearer <token>`. */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}
