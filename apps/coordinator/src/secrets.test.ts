import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskSpec } from "@flotilla/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { hasSecrets, maskSecrets, SecretBox } from "./secrets.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = {
  kind: "exec",
  shell: "deploy",
  priority: "normal",
  env: { REGION: "eu" },
  secretEnv: { API_KEY: "hunter2-value", PASS: "p@ss/word" },
} as const satisfies TaskSpec;

describe("SecretBox", () => {
  it("makes a 32-byte key file readable by its owner only, on first use", () => {
    const file = join(dir, "made", "secret.key");
    const box = new SecretBox(file);
    box.seal("t-1", spec);
    expect(readFileSync(file)).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("seals each value apart, with a fresh IV, and opens them for the same task only", () => {
    const box = new SecretBox(join(dir, "a.key"));
    const sealed = box.seal("t-1", spec);
    expect(JSON.stringify(sealed)).not.toContain("hunter2-value");
    expect(JSON.stringify(sealed)).not.toContain("p@ss/word");
    expect(sealed).toMatchObject({ env: { REGION: "eu" }, shell: "deploy" });
    // The same value sealed twice looks different.
    const again = box.seal("t-1", spec) as typeof sealed & { secretEnv: Record<string, string> };
    expect(again.secretEnv.API_KEY).not.toBe((sealed as typeof again).secretEnv.API_KEY);
    if (!hasSecrets(sealed)) throw new Error("sealed spec lost its secrets");
    expect(box.open("t-1", sealed)).toMatchObject({ secretEnv: spec.secretEnv });
    // Bound to its task: a sealed value moved to another task does not open.
    expect(() => box.open("t-2", sealed)).toThrow(/could not be decrypted/);
  });

  it("says which key file is wrong when another key sealed the task", () => {
    const sealed = new SecretBox(join(dir, "b.key")).seal("t-1", spec);
    const other = join(dir, "c.key");
    writeFileSync(other, Buffer.alloc(32, 7));
    if (!hasSecrets(sealed)) throw new Error("sealed spec lost its secrets");
    const lease = new SecretBox(other).forLease("t-1", sealed);
    expect(lease.error).toMatch(
      /secret API_KEY of task t-1 could not be decrypted.*c\.key.*--secret-key-file/,
    );
    expect(JSON.parse(lease.specJson)).not.toHaveProperty("secretEnv");
  });

  it("refuses a key file of the wrong size", () => {
    const short = join(dir, "short.key");
    writeFileSync(short, "too short");
    expect(() => new SecretBox(short).seal("t-1", spec)).toThrow(/holds 9 bytes, not 32/);
    // A path that cannot be made (a file where its directory should be) is a config error too.
    expect(() => new SecretBox(join(short, "secret.key")).seal("t-1", spec)).toThrow(
      /cannot read or make the secret key file .*short\.key\/secret\.key/,
    );
  });
});

describe("maskSecrets", () => {
  it("shows every secret as *** and leaves the rest of the spec alone", () => {
    expect(maskSecrets(spec)).toEqual({ ...spec, secretEnv: { API_KEY: "***", PASS: "***" } });
    const plain = { kind: "exec", argv: ["true"], env: { A: "b" } };
    expect(maskSecrets(plain)).toBe(plain);
    expect(maskSecrets(undefined)).toBeUndefined();
  });
});
