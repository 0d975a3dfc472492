import { describe, expect, it } from "vitest";
import { coordinatorUrl, parseCoordinatorUrls } from "./coordinator-url.js";
import { isFlotillaError } from "./errors.js";

function failure(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected an error");
}

describe("parseCoordinatorUrls", () => {
  it("reads one URL or a comma-separated list, trimmed, in order", () => {
    expect(parseCoordinatorUrls("ws://a:7420")).toEqual(["ws://a:7420"]);
    expect(parseCoordinatorUrls(" ws://a:7420 ,wss://b:7421/v1/client ")).toEqual([
      "ws://a:7420",
      "wss://b:7421/v1/client",
    ]);
  });

  it("refuses an empty list or an empty entry, saying which", () => {
    expect(failure(() => parseCoordinatorUrls(" "))).toMatchObject({
      code: "E_CONFIG",
      message: expect.stringMatching(/no coordinator URL given/),
    });
    expect(failure(() => parseCoordinatorUrls("ws://a:1,,ws://b:2")).message).toMatch(
      /empty entry \(number 2\)/,
    );
    expect(failure(() => parseCoordinatorUrls("ws://a:1,")).message).toMatch(/empty entry \(number 2\)/);
  });

  it("refuses anything but ws:// and wss:// URLs, naming the entry", () => {
    expect(failure(() => parseCoordinatorUrls("ws://a:1,http://b:2")).message).toMatch(
      /"http:\/\/b:2" is not a WebSocket URL/,
    );
    expect(failure(() => parseCoordinatorUrls("a:1 b:2")).code).toBe("E_CONFIG");
    expect(failure(() => coordinatorUrl("not a url")).message).toMatch(/is not a URL/);
  });
});
