/**
 * TLS for a local fleet: `initFleetTls` runs `flotilla-coordinator init-tls` (the command a fleet's owner
 * runs) to make a private CA and a server certificate, and names the files for `startLocalFleet`'s `tls`.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { BinSpec } from "./fleet.js";

const run = promisify(execFile);

/** The files of a fleet's TLS (PEM), as `flotilla-coordinator init-tls` writes them. */
export interface LocalFleetTls {
  /** The coordinator's certificate (`--tls-cert`). */
  certFile: string;
  /** Its private key (`--tls-key`). */
  keyFile: string;
  /** The private CA that signed it: agents get it as `--ca`, clients as `ca`. */
  caFile: string;
}

/**
 * Makes a private CA and a certificate for `names` (host names and IP addresses the fleet is dialled by)
 * into `dir`, with `coordinatorBin`'s `init-tls`. Rejects with its message when it fails.
 */
export async function initFleetTls(
  coordinatorBin: BinSpec,
  dir: string,
  names: readonly string[] = ["localhost", "127.0.0.1"],
): Promise<LocalFleetTls> {
  try {
    await run(coordinatorBin.command, [
      ...coordinatorBin.args,
      "init-tls",
      "--names",
      names.join(","),
      "--out",
      dir,
    ]);
  } catch (error) {
    const failed = error as Error & { stderr?: string };
    throw new Error(`init-tls failed: ${failed.stderr?.trim() || failed.message}`);
  }
  return {
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
    caFile: join(dir, "ca.crt"),
  };
}
