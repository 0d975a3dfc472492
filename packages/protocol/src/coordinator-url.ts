/**
 * Coordinator addresses as people write them: one WebSocket URL, or several separated by commas when
 * an active coordinator has standbys (`ws://a:7420,ws://b:7420`). This module owns reading and checking
 * them, so the client, the CLI and the agent accept and reject the same text with the same words.
 */
import { readFile } from "node:fs/promises";
import { FlotillaError } from "./errors.js";

/**
 * Checks one coordinator URL and returns it parsed: it must be a URL with the `ws:` or `wss:` scheme.
 * Throws `E_CONFIG` naming the text and what to write instead.
 */
export function coordinatorUrl(text: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch (error) {
    throw new FlotillaError(
      "E_CONFIG",
      `${JSON.stringify(text)} is not a URL — write it like ws://host:7420`,
      {
        cause: error,
      },
    );
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new FlotillaError(
      "E_CONFIG",
      `${JSON.stringify(text)} is not a WebSocket URL — use ws:// or wss://`,
    );
  }
  return parsed;
}

/**
 * Reads a comma-separated list of coordinator URLs (`ws://a:7420, ws://b:7420`), trimming each, and
 * returns them in order, as written. An empty list or an empty entry (`ws://a,,ws://b`, a trailing comma)
 * is an `E_CONFIG` error rather than skipped, since it usually means a variable that was not set; so is
 * any entry {@link coordinatorUrl} refuses.
 *
 * @example parseCoordinatorUrls("ws://a:7420, ws://b:7420") // ["ws://a:7420", "ws://b:7420"]
 */
export function parseCoordinatorUrls(text: string): string[] {
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === "") {
    throw new FlotillaError("E_CONFIG", "no coordinator URL given — write one like ws://host:7420");
  }
  entries.forEach((entry, index) => {
    if (entry === "") {
      throw new FlotillaError(
        "E_CONFIG",
        `coordinator URL list ${JSON.stringify(text)} has an empty entry (number ${index + 1}) — separate URLs with single commas`,
      );
    }
    coordinatorUrl(entry);
  });
  return entries;
}

/** Node's codes for a certificate the peer does not trust, or that is not for the host dialled. */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * The error for a `wss://` dial refused by certificate verification, saying what to do; undefined when
 * `error` is not about the certificate (a refused or lost connection is retried as usual instead).
 */
export function certificateProblem(
  url: string,
  error: { code?: string | undefined; message: string },
): FlotillaError | undefined {
  const code = error.code ?? "";
  let what: string;
  if (UNTRUSTED.has(code))
    what =
      "the coordinator's certificate is not trusted (self-signed/unknown CA): pass --ca <file> (or FLOTILLA_CA; flotilla-coordinator init-tls makes one)";
  else if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    what =
      "the coordinator's certificate is not for this host name: dial a name it lists, or make one for this name with flotilla-coordinator init-tls --names";
  else if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID")
    what =
      "the coordinator's certificate has expired or is not valid yet: check the clocks, or make a new one";
  else return undefined;
  return new FlotillaError("E_CONFIG", `${what} (${url}: ${error.message})`, { details: { url, code } });
}

/**
 * Reads the PEM file of a private CA given as `--ca` (or `FLOTILLA_CA`); a file that cannot be read or
 * holds no certificate is an `E_CONFIG` error naming it.
 */
export async function readCaFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new FlotillaError(
      "E_CONFIG",
      `cannot read the CA file ${path} (--ca or FLOTILLA_CA): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    throw new FlotillaError("E_CONFIG", `${path} (--ca or FLOTILLA_CA) holds no PEM certificate`);
  return text;
}
