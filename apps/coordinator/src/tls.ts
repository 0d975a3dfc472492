/**
 * What the coordinator's listening socket needs to know about TLS: reading its certificate and key
 * (PEM text or a path to it, read again on each reload), and which interface it may listen on without TLS
 * (loopback only unless told otherwise, since the fleet token then crosses the network in clear text).
 */
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { FlotillaError } from "@flotilla/protocol";

/** The coordinator's certificate and key: each PEM text, or the path of a file holding it. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** PEM text is taken as is; anything else is a path, read now. */
async function pem(value: string, what: string): Promise<string> {
  if (value.includes("-----BEGIN")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (error) {
    throw new FlotillaError("E_CONFIG", `cannot read the TLS ${what} ${value}: ${(error as Error).message}`);
  }
}

/**
 * Reads the certificate and key and checks that they parse and belong together; rejects with an
 * `E_CONFIG` error naming what is wrong.
 */
export async function loadTls(files: TlsFiles): Promise<SecureContextOptions> {
  const loaded = { cert: await pem(files.cert, "certificate"), key: await pem(files.key, "key") };
  try {
    createSecureContext(loaded);
  } catch (error) {
    throw new FlotillaError(
      "E_CONFIG",
      `the TLS certificate and key do not fit: ${(error as Error).message}`,
    );
  }
  return loaded;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** The line a coordinator without TLS logs at start, saying why it listens where it does. */
export function plainListenNotice(insecureListen: boolean): string {
  return insecureListen
    ? "no TLS and --insecure-listen: the fleet token crosses the network in clear text; use --tls-cert/--tls-key (flotilla-coordinator init-tls) outside a trusted network"
    : "no TLS: listening on 127.0.0.1 only, since the fleet token would cross the LAN in clear text; give --tls-cert/--tls-key (flotilla-coordinator init-tls makes them) or --insecure-listen";
}
