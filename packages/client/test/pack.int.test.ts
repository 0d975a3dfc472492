import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The protocol package's packaging helper: it installs @flotilla/protocol from its tarball, which the
// client's tarball then depends on (neither is on the npm registry).
import { type PackedProject, packAndInstall } from "../../protocol/test/pack.js";

const packageDir = join(import.meta.dirname, "..");
const protocolDir = join(packageDir, "..", "protocol");
const tsup = join(packageDir, "..", "..", "node_modules", ".bin", "tsup");
let project: PackedProject;
let tarballFiles: string[];

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 300_000,
  });
}

/** Builds the client into a stage (dist/ stays untouched), packs it and installs it next to the protocol. */
function installClient(into: PackedProject): string[] {
  const stage = join(into.dir, "..", "client-stage");
  run(tsup, ["--out-dir", join(stage, "dist")], packageDir);
  cpSync(join(packageDir, "README.md"), join(stage, "README.md"));
  // Outside the workspace pnpm cannot resolve "workspace:*": write the versions it would have written.
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  const protocolVersion = JSON.parse(readFileSync(join(protocolDir, "package.json"), "utf8")).version;
  manifest.dependencies["@flotilla/protocol"] = protocolVersion;
  delete manifest.devDependencies;
  writeFileSync(join(stage, "package.json"), JSON.stringify(manifest, null, 2));
  const packDir = join(into.dir, "..", "client-tarball");
  mkdirSync(packDir);
  // npm, not pnpm: the stage is outside the workspace, where a corepack-managed pnpm has no pinned version.
  run("npm", ["pack", "--pack-destination", packDir, "--loglevel=error"], stage);
  const tarball = join(packDir, readdirSync(packDir).find((name) => name.endsWith(".tgz")) ?? "missing.tgz");
  run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball],
    into.dir,
  );
  return run("tar", ["-tzf", tarball], into.dir).trim().split("\n");
}

describe("the published client package", () => {
  // About 70 s while the other suites run (two builds with declarations, two packs and installs), 10 s for
  // the consumer's tsc. As in the protocol's packaging check, the limits are far above that because the
  // whole repository's suites share two cores and can slow this several times over.
  beforeAll(() => {
    project = packAndInstall(protocolDir);
    tarballFiles = installClient(project);
  }, 300_000);
  afterAll(() => project?.dispose());

  it("ships the build and README, and no tests", () => {
    for (const file of [
      "package/dist/index.js",
      "package/dist/index.d.ts",
      "package/dist/testing.js",
      "package/README.md",
    ]) {
      expect(tarballFiles).toContain(file);
    }
    expect(tarballFiles.filter((file) => /\.test\.|\/test\//.test(file))).toEqual([]);
  });

  it("imports from plain Node ESM and talks to the coordinator double", () => {
    const output = project.runModule(`
      import { connect, isFlotillaError } from "@flotilla/client";
      import { FakeCoordinator } from "@flotilla/client/testing";
      const fake = await FakeCoordinator.start();
      const client = await connect({ url: fake.url });
      const handle = await client.submit({ kind: "exec", argv: ["true"] });
      const missing = await client.task("nope").catch((error) => error);
      client.close();
      await fake.close();
      console.log(JSON.stringify({ id: handle.id, typed: isFlotillaError(missing), code: missing.code }));
    `);
    expect(JSON.parse(output)).toEqual({ id: "t-1", typed: true, code: "E_NOT_FOUND" });
  });

  it("type-checks a consumer under moduleResolution nodenext", () => {
    const output = project.typecheck(`
      import { connect, type TaskHandle, type TaskResult, type OutputChunk } from "@flotilla/client";

      export async function build(): Promise<number> {
        const client = await connect({ url: "ws://127.0.0.1:7420", token: "t", reconnect: { baseMs: 100, maxMs: 5000 } });
        const handle: TaskHandle = await client.submit({ kind: "exec", argv: ["make"], needs: { docker: true } });
        for await (const chunk of handle.output()) {
          const piece: OutputChunk = chunk;
          console.log(piece.stream, piece.data);
        }
        const result: TaskResult = await handle.result();
        // @ts-expect-error a spec needs a kind
        await client.submit({ argv: ["make"] });
        client.close();
        return result.exitCode ?? 1;
      }
    `);
    expect(output).toBe("");
  }, 180_000);
});
