import { describe, expect, it } from "vitest";
import { ERROR_CODES, errorFromWire, FlotillaError, isFlotillaError, toFlotillaError } from "./errors.js";

describe("FlotillaError", () => {
  it("carries a stable code, retryability from the table, and a wire form", () => {
    const error = new FlotillaError("E_NODE_UNAVAILABLE", "no node has docker", {
      details: { need: "docker" },
    });
    expect(error.retryable).toBe(ERROR_CODES.E_NODE_UNAVAILABLE.retryable);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: "E_NODE_UNAVAILABLE",
      message: "no node has docker",
      retryable: true,
      details: { need: "docker" },
    });
  });

  it("is recognised across copies by its brand, not by instanceof", () => {
    const foreign = Object.assign(Object.create(null), { [Symbol.for("flotilla.error")]: true });
    expect(isFlotillaError(foreign)).toBe(true);
    expect(isFlotillaError(new Error("plain"))).toBe(false);
  });

  it("normalises anything thrown, and rebuilds wire errors with unknown codes as E_INTERNAL", () => {
    expect(toFlotillaError(new TypeError("boom")).code).toBe("E_INTERNAL");
    expect(errorFromWire({ code: "E_FROM_THE_FUTURE", message: "x" }).code).toBe("E_INTERNAL");
    expect(errorFromWire({ code: "E_TIMEOUT", message: "late" }).code).toBe("E_TIMEOUT");
  });

  it("keeps wire numbers unique", () => {
    const numbers = Object.values(ERROR_CODES).map((entry) => entry.wire);
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
