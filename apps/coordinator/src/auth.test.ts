import { describe, expect, it } from "vitest";
import { TokenAuthority } from "./auth.js";

describe("TokenAuthority", () => {
  const authority = new TokenAuthority("fleet-secret", { "mac-mini": "mini-secret" });

  it("maps tokens to principals and rejects unknown or missing ones", () => {
    expect(authority.authenticate("fleet-secret")).toEqual({ kind: "fleet" });
    expect(authority.authenticate("mini-secret")).toEqual({ kind: "node", nodeId: "mac-mini" });
    expect(authority.authenticate("fleet-secre")).toBeUndefined();
    expect(authority.authenticate("")).toBeUndefined();
    expect(authority.authenticate(undefined)).toBeUndefined();
  });

  it("lets a node token speak only for its node, and keeps the fleet token off nodes with their own", () => {
    expect(authority.mayActAsNode({ kind: "node", nodeId: "mac-mini" }, "mac-mini")).toBe(true);
    expect(authority.mayActAsNode({ kind: "node", nodeId: "mac-mini" }, "linux-box")).toBe(false);
    expect(authority.mayActAsNode({ kind: "fleet" }, "linux-box")).toBe(true);
    expect(authority.mayActAsNode({ kind: "fleet" }, "mac-mini")).toBe(false);
  });
});
