import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectFingerprint, dockerStatus } from "./fingerprint.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-fp-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeDocker(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

describe("collectFingerprint", () => {
  it("describes this machine, and is fast once cached", async () => {
    const docker = await fakeDocker("no-engine", "echo 'Cannot connect to the Docker daemon' >&2; exit 1");
    const first = await collectFingerprint({ workDir: dir, dockerCommand: docker });
    expect(first.os).toBe(process.platform);
    expect(first.cores).toBeGreaterThan(0);
    expect(first.memoryBytes).toBeGreaterThan(0);
    expect(first.freeDiskBytes).toBeGreaterThan(0);
    expect(first.cpuModel).not.toBe("");
    expect(first.docker).toEqual({ available: false });
    const started = performance.now();
    await collectFingerprint({ workDir: dir, dockerCommand: docker });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("dockerStatus", () => {
  it("is available only when the engine answers", async () => {
    const ok = await fakeDocker("engine", "echo 27.3.1");
    expect(await dockerStatus(ok, 2000)).toEqual({ available: true, version: "27.3.1" });
    expect(await dockerStatus(join(dir, "missing"), 2000)).toEqual({ available: false });
  });

  it("gives up on a hung engine within the bound", async () => {
    const hung = await fakeDocker("hung", "exec sleep 30");
    const started = performance.now();
    expect(await dockerStatus(hung, 200)).toEqual({ available: false });
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});
