import { describe, expect, it } from "vitest";
import { waitFor } from "./index.js";

describe("waitFor", () => {
  it("resolves with the first truthy value", async () => {
    let calls = 0;
    expect(await waitFor(() => (++calls >= 3 ? "done" : undefined), { intervalMs: 1 })).toBe("done");
  });

  it("names what it waited for when it gives up", async () => {
    await expect(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: "the moon" })).rejects.toThrow(
      /the moon/,
    );
  });
});
