/**
 * Where the client dials: the coordinators' client endpoints, from the URLs a caller gives (one, a
 * comma-separated list, or an array). Reading and checking the URLs is protocol's `parseCoordinatorUrls`;
 * this module only adds the endpoint's path and merges the two ways of giving them.
 */
import { coordinatorUrl, FlotillaError, parseCoordinatorUrls } from "@flotilla/protocol";

const CLIENT_PATH = "/v1/client";

/** Adds the client endpoint's path to a bare coordinator URL. */
export function clientEndpoint(url: string): string {
  const parsed = coordinatorUrl(url);
  if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = CLIENT_PATH;
  return parsed.toString();
}

/** The client endpoints of every coordinator `options` names, in order, each once. */
export function clientEndpoints(options: {
  url?: string | undefined;
  urls?: readonly string[] | undefined;
}): string[] {
  const written = [...(options.url === undefined ? [] : [options.url]), ...(options.urls ?? [])].flatMap(
    (text) => parseCoordinatorUrls(text),
  );
  if (written.length === 0) {
    throw new FlotillaError("E_CONFIG", "no coordinator URL given — pass url, e.g. ws://127.0.0.1:7420");
  }
  return [...new Set(written.map(clientEndpoint))];
}
