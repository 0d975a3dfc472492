import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findDashboardDir, serveDashboard } from "./dashboard-files.js";

let server: Server | undefined;

/** Serves `dir` as the coordinator does and returns the base URL. */
async function serve(dir: string | undefined): Promise<string> {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://test");
    void serveDashboard(dir, request, response, url.pathname);
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function builtDashboard(): string {
  const dir = mkdtempSync(join(tmpdir(), "dash-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>Flotilla</title>");
  writeFileSync(join(dir, "assets", "index-abc123.js"), "console.log(1)");
  return dir;
}

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe("the dashboard's files", () => {
  it("serves the page revalidated, hashed assets for a year, and the page for the app's own paths", async () => {
    const base = await serve(builtDashboard());
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const asset = await fetch(`${base}/assets/index-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("text/javascript");
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const route = await fetch(`${base}/tasks/t-123`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain("<title>Flotilla</title>");
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
  });

  it("never serves a file outside its directory", async () => {
    const dir = builtDashboard();
    writeFileSync(join(dir, "..", "secret.txt"), "no");
    const base = await serve(dir);
    for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"]) {
      const response = await fetch(`${base}${path}`);
      expect(await response.text()).not.toBe("no");
    }
  });

  it("says how to build it when it is not built", async () => {
    const base = await serve(undefined);
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain("pnpm --filter @flotilla/dashboard build");
  });

  it("finds a directory given, and none where there is no index.html", () => {
    const dir = builtDashboard();
    expect(findDashboardDir(dir)).toBe(dir);
  });
});
