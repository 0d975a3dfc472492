/**
 * Coordinator addresses as people write them: one WebSocket URL, or several separated by commas when
 * an active coordinator has standbys (`ws://a:7420,ws://b:7420`). This module owns reading and checking
 * them, so the client, the CLI and the agent accept and reject the same text with the same words.
 */
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
