import { FlotillaError, isFlotillaError } from "@flotilla/protocol";
import { describe, expect, it } from "vitest";
import { assertWired, PACKAGE_NAME } from "./index.js";

describe("node-agent wiring", () => {
  it("resolves the protocol package from source", () => {
    expect(PACKAGE_NAME).toBe("@flotilla/node-agent");
    expect(() => assertWired()).not.toThrow();
    expect(isFlotillaError(new FlotillaError("E_INTERNAL", "x"))).toBe(true);
  });
});
