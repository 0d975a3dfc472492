import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { COORDINATOR_VERSION } from "./version.js";

describe("COORDINATOR_VERSION", () => {
  it("matches package.json", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(COORDINATOR_VERSION).toBe(pkg.version);
  });
});
