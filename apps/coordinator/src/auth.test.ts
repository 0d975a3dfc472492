import type { IncomingMessage } from "node:http";
import { tokenSubprotocol, WS_SUBPROTOCOL } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { parseScope, TokenAuthority, tokenHash, upgradeToken } from "./auth.js";

describe("TokenAuthority", () => {
  const authority = new TokenAuthority("fleet-secret", { "mac-mini": "mini-secret" }, [
    { name: "laptop", scope: "submit", hash: tokenHash("laptop-secret") },
    { name: "wall", scope: "read", hash: tokenHash("wall-secret") },
  ]);

  it("maps tokens to principals and rejects unknown or missing ones", () => {
    expect(authority.authenticate("fleet-secret")).toEqual({ name: "fleet", scope: "admin" });
    expect(authority.authenticate("mini-secret")).toEqual({
      name: "mac-mini",
      scope: "agent",
      nodeId: "mac-mini",
    });
    expect(authority.authenticate("laptop-secret")).toEqual({ name: "laptop", scope: "submit" });
    expect(authority.authenticate("wall-secret")).toEqual({ name: "wall", scope: "read" });
    expect(authority.authenticate("fleet-secre")).toBeUndefined();
    expect(authority.authenticate("")).toBeUndefined();
    expect(authority.authenticate(undefined)).toBeUndefined();
  });

  it("lets a node token speak only for its node, and keeps the fleet token off nodes with their own", () => {
    const mini = { name: "mac-mini", scope: "agent", nodeId: "mac-mini" } as const;
    expect(authority.mayActAsNode(mini, "mac-mini")).toBe(true);
    expect(authority.mayActAsNode(mini, "linux-box")).toBe(false);
    expect(authority.mayActAsNode({ name: "fleet", scope: "admin" }, "linux-box")).toBe(true);
    expect(authority.mayActAsNode({ name: "fleet", scope: "admin" }, "mac-mini")).toBe(false);
    expect(authority.mayActAsNode({ name: "laptop", scope: "submit" }, "linux-box")).toBe(false);
  });

  it("refuses duplicate names, bad hashes and unknown scopes", () => {
    expect(
      () => new TokenAuthority("a", {}, [{ name: "fleet", scope: "read", hash: tokenHash("b") }]),
    ).toThrow(/two tokens/);
    expect(() => new TokenAuthority(undefined, {}, [{ name: "x", scope: "read", hash: "abc" }])).toThrow(
      /hash/,
    );
    expect(() => parseScope("root")).toThrow(/unknown token scope/);
    expect(() => new TokenAuthority(undefined)).toThrow(/no token/);
  });
});

describe("upgradeToken", () => {
  it("reads the bearer header, else the token a browser sends among its subprotocols", () => {
    const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
    expect(upgradeToken(request({ authorization: "Bearer abc" }))).toBe("abc");
    expect(
      upgradeToken(
        request({ "sec-websocket-protocol": `${WS_SUBPROTOCOL}, ${tokenSubprotocol("s3cret/+=")}` }),
      ),
    ).toBe("s3cret/+=");
    expect(upgradeToken(request({ "sec-websocket-protocol": WS_SUBPROTOCOL }))).toBeUndefined();
  });
});
