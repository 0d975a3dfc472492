import { describe, expect, it } from "vitest";
import {
  randomId,
  tokenFromSubprotocols,
  tokenSubprotocol,
  utf8Length,
  WS_SUBPROTOCOL,
} from "./browser-safe.js";

describe("browser-safe helpers", () => {
  it("carries any token through a subprotocol name and back", () => {
    for (const token of ["s3cret", "with spaces/and+slashes=", "ünïcødé ✓", "a".repeat(300)]) {
      const entry = tokenSubprotocol(token);
      expect(entry).toMatch(/^flotilla\.bearer\.[A-Za-z0-9_-]+$/);
      expect(tokenFromSubprotocols(`${WS_SUBPROTOCOL}, ${entry}`)).toBe(token);
    }
  });

  it("finds no token where none or a broken one is given", () => {
    expect(tokenFromSubprotocols(undefined)).toBeUndefined();
    expect(tokenFromSubprotocols(WS_SUBPROTOCOL)).toBeUndefined();
    expect(tokenFromSubprotocols("flotilla.bearer.%%%")).toBeUndefined();
  });

  it("makes v4 UUIDs, also without crypto.randomUUID", () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(randomId()).toMatch(uuid);
    const original = globalThis.crypto.randomUUID;
    Object.defineProperty(globalThis.crypto, "randomUUID", { value: undefined, configurable: true });
    try {
      const ids = new Set(Array.from({ length: 100 }, () => randomId()));
      expect(ids.size).toBe(100);
      for (const id of ids) expect(id).toMatch(uuid);
    } finally {
      Object.defineProperty(globalThis.crypto, "randomUUID", { value: original, configurable: true });
    }
  });

  it("counts UTF-8 bytes", () => {
    expect(utf8Length("aé✓")).toBe(6);
  });
});
