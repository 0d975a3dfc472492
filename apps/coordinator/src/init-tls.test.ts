import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveCoordinatorOptions, runCli, USAGE } from "./cli.js";
import type { Coordinator } from "./coordinator.js";
import { INIT_TLS_USAGE } from "./init-tls.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-init-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { env: {}, out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("flotilla-coordinator init-tls", () => {
  it("writes a CA and a server certificate for the names, keys readable by their owner only", async () => {
    const out = join(dir, "fleet");
    const result = await run(["init-tls", "--names", "studio.local,10.0.0.5", "--out", out]);
    expect(result.code).toBe(0);
    expect(result.out).toContain(
      `--tls-cert ${join(out, "server.crt")} --tls-key ${join(out, "server.key")}`,
    );
    expect(result.out).toContain("--ca ca.crt");
    for (const key of ["ca.key", "server.key"]) expect(statSync(join(out, key)).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(join(out, "ca.crt")));
    const server = new X509Certificate(readFileSync(join(out, "server.crt")));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.subjectAltName).toBe("DNS:studio.local, IP Address:10.0.0.5");
    expect(server.checkHost("studio.local")).toBe("studio.local");
    expect(server.checkIP("10.0.0.5")).toBe("10.0.0.5");
  });

  it("never overwrites what is there", async () => {
    const out = join(dir, "twice");
    expect((await run(["init-tls", "--names", "a.local", "--out", out])).code).toBe(0);
    const before = readFileSync(join(out, "ca.key"), "utf8");
    const again = await run(["init-tls", "--names", "a.local", "--out", out]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/cannot write into .*EEXIST/);
    expect(readFileSync(join(out, "ca.key"), "utf8")).toBe(before);
  });

  it("explains itself, and asks for names", async () => {
    const help = await run(["init-tls", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toBe(INIT_TLS_USAGE);
    expect((await run(["--help"])).out).toContain("init-tls --names");
    expect(USAGE).toMatch(/--tls-cert.*\n.*--tls-key.*\n.*--insecure-listen/);
    const none = await run(["init-tls"]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--names is required/);
    expect((await run(["init-tls", "--names", "bad name!"])).err).toMatch(/neither a host name nor an IP/);
  });
});

describe("flotilla-coordinator TLS flags", () => {
  it("wants the certificate and key together", async () => {
    const result = await run(["--token", "t", "--tls-cert", "a.crt"]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--tls-cert and --tls-key go together/);
  });

  it("reads the certificate and key paths from flags or the config file's directory", async () => {
    const flags = await resolveCoordinatorOptions(
      ["--token", "t", "--tls-cert", "/a/s.crt", "--tls-key", "/a/s.key", "--insecure-listen"],
      {},
    );
    expect(flags !== "help" && [flags.tls, flags.insecureListen]).toEqual([
      { cert: "/a/s.crt", key: "/a/s.key" },
      true,
    ]);
    const config = join(dir, "tls.json");
    writeFileSync(config, JSON.stringify({ token: "t", "tls-cert": "s.crt", "tls-key": "keys/s.key" }));
    const file = await resolveCoordinatorOptions(["--config", config], {});
    expect(file !== "help" && file.tls).toEqual({ cert: join(dir, "s.crt"), key: join(dir, "keys/s.key") });
  });

  it("reloads the certificate on SIGHUP", async () => {
    let reloads = 0;
    let hangUp: (() => void) | undefined;
    let stopSignal: (() => void) | undefined;
    const fake: Coordinator = {
      start: async () => {},
      stop: async () => {},
      reloadTls: async () => {
        reloads += 1;
        return true;
      },
      port: 7420,
      url: "wss://127.0.0.1:7420",
      role: "active",
      inspect: { nodes: () => [], metrics: async () => "" },
    };
    const ready = new Promise<void>((resolve) => {
      void runCli(["--token", "t", "--tls-cert", "/a/s.crt", "--tls-key", "/a/s.key"], {
        env: {},
        out: () => {},
        err: () => {},
        makeCoordinator: () => fake,
        onReloadSignal: (handler) => {
          hangUp = handler;
        },
        onStopSignal: (handler) => {
          stopSignal = handler;
          resolve();
        },
      });
    });
    await ready;
    hangUp?.();
    hangUp?.();
    expect(reloads).toBe(2);
    stopSignal?.();
  });

  it("refuses to listen beyond loopback in clear text unless told to", async () => {
    const result = await run(["--token", "t", "--host", "0.0.0.0"]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/without TLS would send the fleet token in clear text/);
  });
});
