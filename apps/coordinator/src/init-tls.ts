/**
 * `flotilla-coordinator init-tls`: makes the fleet's private CA and a server certificate for the names
 * given, writes them (keys readable by their owner only) and prints the flags that use them. It never
 * overwrites a file: a CA key once handed out is replaced on purpose, by removing it first.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeFleetCertificates, parseNames } from "./tls-certs.js";

/** The usage text of `flotilla-coordinator init-tls --help`. */
export const INIT_TLS_USAGE = `Usage: flotilla-coordinator init-tls --names <name,...> [--out <dir>]

Makes a private certificate authority for the fleet (ca.crt, ca.key) and a certificate for the
coordinator signed by it (server.crt, server.key), valid for the host names and IP addresses given:
every name agents and clients use to reach the coordinator.

Options:
  --names <list>    comma-separated DNS names and IP addresses, e.g. studio.local,10.0.0.5
  --out <dir>       where to write the four files (default ./flotilla-tls; made if missing)
  -h, --help        show this help

Keys are written with mode 0600. Existing files are never overwritten.
`;

/** Where `init-tls` writes and prints. */
export interface InitTlsIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs `init-tls` with the arguments after the word; returns the exit code. */
export async function runInitTls(argv: readonly string[], io: InitTlsIo): Promise<number> {
  let values: { names?: string; out?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: { names: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (error) {
    io.err(`flotilla-coordinator init-tls: ${(error as Error).message} (see --help)`);
    return 2;
  }
  if (values.help) {
    io.out(INIT_TLS_USAGE);
    return 0;
  }
  let names: { dns: string[]; ips: string[] };
  try {
    names = parseNames(values.names ?? "");
    if (names.dns.length + names.ips.length === 0)
      throw new RangeError("--names is required: the host names and IP addresses agents use to reach it");
  } catch (error) {
    io.err(`flotilla-coordinator init-tls: ${(error as Error).message} (see --help)`);
    return 2;
  }
  const dir = resolve(values.out ?? "flotilla-tls");
  const made = await makeFleetCertificates(names);
  const files = [
    ["ca.crt", made.caCert, 0o644],
    ["ca.key", made.caKey, 0o600],
    ["server.crt", made.serverCert, 0o644],
    ["server.key", made.serverKey, 0o600],
  ] as const;
  try {
    await mkdir(dir, { recursive: true });
    for (const [name, text, mode] of files) {
      const path = resolve(dir, name);
      await writeFile(path, text, { flag: "wx", mode });
      // The mode given to writeFile is masked by the umask; the keys' must not be.
      await chmod(path, mode);
    }
  } catch (error) {
    io.err(`flotilla-coordinator init-tls: cannot write into ${dir}: ${(error as Error).message}`);
    return 1;
  }
  const at = (name: string): string => resolve(dir, name);
  io.out(`Wrote ${at("ca.crt")}, ${at("ca.key")}, ${at("server.crt")}, ${at("server.key")}`);
  io.out(`for ${[...names.dns, ...names.ips].join(", ")}.`);
  io.out("");
  io.out("On the coordinator:");
  io.out(`  flotilla-coordinator --tls-cert ${at("server.crt")} --tls-key ${at("server.key")} ...`);
  io.out("Copy ca.crt to every agent and client machine, then:");
  io.out(`  flotilla-agent --coordinator wss://${names.dns[0] ?? names.ips[0]}:7420 --ca ca.crt ...`);
  io.out("  flotilla --ca ca.crt ...            (or FLOTILLA_CA=ca.crt)");
  io.out("Keep ca.key off the fleet's machines: it signs certificates they trust.");
  return 0;
}
