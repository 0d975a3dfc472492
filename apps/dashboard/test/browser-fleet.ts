/**
 * What the browser tests stand on: the dashboard built, a real fleet (redis-server, coordinator, agents as
 * processes, from this checkout's sources) with an admin and a read-only token, and headless Chromium
 * driven by playwright-core. Screenshots go to `test-artifacts/` (gitignored).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BinSpec, type LocalAgentSpec, type LocalFleet, startLocalFleet } from "@flotilla/launcher";
import { agentBin, coordinatorBin } from "@flotilla/testing";
import { type Browser, type BrowserContextOptions, chromium, type Locator, type Page } from "playwright-core";

/** Where screenshots are written. */
export const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/", import.meta.url));

/** Debian's Chromium; `.ci/run` installs it when missing. */
export const CHROMIUM = "/usr/bin/chromium";

/** Builds the dashboard (the coordinator serves `apps/dashboard/dist`). */
export function buildDashboard(): void {
  execFileSync("pnpm", ["exec", "vite", "build", "--logLevel", "warn"], {
    cwd: fileURLToPath(new URL("../", import.meta.url)),
    stdio: "inherit",
  });
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--no-first-run",
    ],
  });
}

/** A fleet with the fleet (admin) token and a `read` token named `wall`. */
export interface BrowserFleet {
  fleet: LocalFleet;
  baseUrl: string;
  adminToken: string;
  readToken: string;
}

export async function startBrowserFleet(
  agents: readonly LocalAgentSpec[],
  coordinatorArgs: readonly string[] = [],
  coordinator: BinSpec = coordinatorBin(),
): Promise<BrowserFleet> {
  const readToken = randomBytes(16).toString("hex");
  const dir = join(tmpdir(), `flotilla-dash-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true });
  const tokensFile = join(dir, "tokens.json");
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256").update(readToken).digest("hex");
  writeFileSync(tokensFile, JSON.stringify({ tokens: [{ name: "wall", scope: "read", hash }] }));
  const fleet = await startLocalFleet({
    coordinatorBin: coordinator,
    agentBin: agentBin(),
    agents,
    coordinatorArgs: [
      "--log-level",
      "warn",
      "--load-threshold",
      "1000",
      "--tokens-file",
      tokensFile,
      ...coordinatorArgs,
    ],
    readyTimeoutMs: 60_000,
  });
  const baseUrl = (fleet.coordinatorUrls[0] ?? "").replace(/^ws/, "http");
  return { fleet, baseUrl, adminToken: fleet.token, readToken };
}

/** Opens the dashboard in a fresh context and signs in with `token`. */
export async function signedIn(
  browser: Browser,
  baseUrl: string,
  token: string,
  path = "/",
  options: BrowserContextOptions = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, ...options });
  const page = await context.newPage();
  await page.goto(`${baseUrl}${path}`);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Open the dashboard" }).click();
  await page.locator(".who").waitFor();
  return page;
}

/** Saves a full-page screenshot as `test-artifacts/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The text of the first element `locator` finds, "" while there is none. */
export async function text(locator: Locator): Promise<string> {
  return (await locator.count()) === 0 ? "" : ((await locator.first().textContent()) ?? "");
}
