import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chooseHelper } from "./choice.js";
import { builtNativeHelper } from "./programs.js";
import { selfTestHelper } from "./self-test.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-self-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the spawn helper's self-test", () => {
  it("passes for the native helper the package built: spawn, output, exit code, process-group kill", async () => {
    // CI builds it (FLOTILLA_NATIVE=required); a checkout without a C compiler fails here, not skips.
    expect(await selfTestHelper(builtNativeHelper())).toEqual({ ok: true });
  });

  it("fails for a program that is not a helper, saying why", async () => {
    const result = await selfTestHelper("/bin/false");
    expect(result.ok).toBe(false);
    const silent = join(dir, "silent-helper");
    await writeFile(silent, "#!/bin/sh\nexec sleep 60\n");
    await chmod(silent, 0o755);
    const hung = await selfTestHelper(silent);
    expect(hung).toMatchObject({ ok: false });
  });
});

describe("chooseHelper", () => {
  const pass = async () => ({ ok: true }) as const;
  const failing = async () => ({ ok: false, reason: "exit code 3 came back as 0" }) as const;

  it("uses the Node.js helper when chosen or when none was built, saying what it costs", async () => {
    expect(await chooseHelper("node", "/x/helper", pass)).toEqual({
      nativeHelper: false,
      note: "spawn helper: node, as chosen (each command costs the agent about 3x the CPU of the native helper)",
    });
    const none = await chooseHelper(undefined, undefined, pass);
    expect(none.nativeHelper).toBe(false);
    expect(none.note).toMatch(/^spawn helper: node, as no native helper was built \(no C compiler\?\)/);
  });

  it("uses the native helper only when it passes its self-test", async () => {
    expect(await chooseHelper(undefined, "/x/helper", pass)).toEqual({
      nativeHelper: "/x/helper",
      note: "spawn helper: native (/x/helper), self-test passed",
    });
    const refused = await chooseHelper(undefined, "/x/helper", failing);
    expect(refused.nativeHelper).toBe(false);
    expect(refused.note).toContain("failed its self-test (exit code 3 came back as 0)");
  });
});
