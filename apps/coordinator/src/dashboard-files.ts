/**
 * The browser dashboard's files, served at `/` on the coordinator's port. This module owns finding the
 * built dashboard (`apps/dashboard`, copied beside the bundle by the build) and answering for it: files
 * under `assets/` carry a content hash in their name and are cached for a year; `index.html` is revalidated
 * each time; any other path without a file extension is the single-page app's own route and gets
 * `index.html`. Without a built dashboard, `/` says how to build one and the rest of the coordinator is
 * unaffected. The dashboard itself reads nothing over HTTP but `/v1/whoami`: its data comes over the
 * WebSocket, under the token the page asks for.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const NOT_BUILT = `The dashboard is not built, so this coordinator serves none (everything else works).
Build it with: pnpm --filter @flotilla/dashboard build   (or pnpm build at the repository's root)
then restart the coordinator, and open this address again.
`;

const NOT_BUILT_HEADERS = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

/** Where the built dashboard is: `explicit`, else beside the bundle, else in the workspace; undefined if none. */
export function findDashboardDir(explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return resolve(explicit);
  const here = fileURLToPath(new URL(".", import.meta.url));
  // From dist/ (the shipped package) and from src/ (tests and tsx run the sources) alike.
  const candidates = [join(here, "dashboard"), join(here, "..", "..", "dashboard", "dist")];
  return candidates.find((dir) => existsSync(join(dir, "index.html")));
}

/** Answers a GET or HEAD for the dashboard at `pathname`. */
export async function serveDashboard(
  dir: string | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  pathname: string,
): Promise<void> {
  const head = request.method === "HEAD";
  if (dir === undefined) {
    respond(response, 404, NOT_BUILT_HEADERS, NOT_BUILT, head);
    return;
  }
  const relative = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
  const file = resolve(dir, relative === "" ? "index.html" : relative);
  const inside = file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  const body = inside ? await readFile(file).catch(() => undefined) : undefined;
  if (body !== undefined) {
    const hashed = relative.startsWith("assets/");
    respond(
      response,
      200,
      {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": hashed ? "public, max-age=31536000, immutable" : "no-cache",
      },
      body,
      head,
    );
    return;
  }
  if (extname(relative) !== "") {
    respond(response, 404, { "content-type": TYPES[".txt"] ?? "" }, "not found\n", head);
    return;
  }
  const index = await readFile(join(dir, "index.html")).catch(() => undefined);
  if (index === undefined) {
    respond(response, 404, NOT_BUILT_HEADERS, NOT_BUILT, head);
    return;
  }
  respond(response, 200, { "content-type": TYPES[".html"] ?? "", "cache-control": "no-cache" }, index, head);
}

function respond(
  response: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
  head: boolean,
): void {
  response.writeHead(status, {
    ...headers,
    "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.byteLength,
    "x-content-type-options": "nosniff",
  });
  response.end(head ? undefined : body);
}
