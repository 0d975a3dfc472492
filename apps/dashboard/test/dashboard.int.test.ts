/**
 * The dashboard in headless Chromium against a real Redis, coordinator and three agents: sign-in, nodes,
 * a task's live output, cancel, drain, a killed agent, and a read-only token. Each step waits for what the
 * page shows, never for a fixed time; screenshots land in test-artifacts/.
 */

import { connect, type FlotillaClient } from "@flotilla/client";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrowserFleet,
  buildDashboard,
  launchBrowser,
  screenshot,
  signedIn,
  startBrowserFleet,
  text,
} from "./browser-fleet.js";

const AGENTS = [
  { id: "mac-mini", slots: 2, labels: { heavy: "true" } },
  { id: "linux-box", slots: 2, labels: { docker: "true" } },
  { id: "laptop", slots: 2, labels: { light: "true" } },
];

describe("the dashboard in a browser", () => {
  let setup: BrowserFleet;
  let browser: Browser;
  let client: FlotillaClient;
  let page: Page;

  beforeAll(async () => {
    buildDashboard();
    // Alerts fire and resolve within a second or so here, and only about the fleet's size: the machine
    // running the tests may well be loaded past the CPU and memory thresholds.
    setup = await startBrowserFleet(AGENTS, [
      ...["--alert-fire-after-ms", "500", "--alert-resolve-after-ms", "1000", "--alert-interval-ms", "250"],
      ...["--alert-cpu-load", "1000", "--alert-memory", "1", "--history-interval-ms", "1000"],
    ]);
    browser = await launchBrowser();
    client = await connect({ url: setup.fleet.url, token: setup.adminToken });
  });
  afterAll(async () => {
    client?.close();
    await browser?.close();
    await setup?.fleet.stop();
  });

  it("serves the page and its assets, and asks for the token before showing anything", async () => {
    const index = await fetch(`${setup.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(`${setup.baseUrl}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(`${setup.baseUrl}/tasks/t-anything`)).status).toBe(200);

    const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
    const fresh = await context.newPage();
    await fresh.goto(`${setup.baseUrl}/`);
    await fresh.getByLabel("Token").waitFor();
    await expect(fresh.locator(".card").count()).resolves.toBe(0);
    await fresh.getByLabel("Token").fill("not-the-token");
    await fresh.getByRole("button", { name: "Open the dashboard" }).click();
    await expect.poll(() => text(fresh.locator(".error"))).toContain("does not accept");
    await screenshot(fresh, "01-token-prompt");
    await context.close();
  });

  it("shows the three nodes, ready", async () => {
    page = await signedIn(browser, setup.baseUrl, setup.adminToken);
    for (const agent of AGENTS) {
      await expect.poll(() => health(page, agent.id)).toBe("ready");
    }
    await screenshot(page, "02-overview");
  });

  it("shows a submitted task and streams its output live, then cancels it", async () => {
    const task = await client.submit(
      { kind: "exec", shell: "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo line $i; sleep 0.1; done" },
      { wait: false },
    );
    const row = page.locator(`[data-testid="running"] tr[data-task="${task.id}"]`);
    // The overview's running list (drawn on its own timer) shows it, and so does the tasks page.
    await row.waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "Tasks", exact: true }).click();
    await row.waitFor({ timeout: 30_000 });
    await row.getByRole("link", { name: task.id }).click();
    const output = page.getByTestId("output");
    await expect.poll(() => text(output), { timeout: 30_000 }).toContain("line 3");
    const seen = ((await output.textContent()) ?? "").split("\n").length;
    // More lines arrive while the page stays as it is: the output streams.
    await expect
      .poll(async () => (await text(output)).split("\n").length, { timeout: 30_000 })
      .toBeGreaterThan(seen + 5);
    await screenshot(page, "03-task-output");
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect
      .poll(() => text(page.locator(".task-page h2 .state")), { timeout: 30_000 })
      .toBe("cancelled");
    expect((await client.task(task.id)).state).toBe("cancelled");
    await screenshot(page, "04-task-cancelled");
  });

  it("lists a finished task's state changes with node and time on a page opened afterwards", async () => {
    const task = await client.submit({ kind: "exec", argv: ["true"] });
    expect((await task.result()).state).toBe("succeeded");
    const node = (await client.task(task.id)).node ?? "";
    expect(node).not.toBe("");
    const later = await signedIn(browser, setup.baseUrl, setup.adminToken, `/tasks/${task.id}`);
    const changes = later.getByTestId("state-changes");
    // "leased" is known only from the task's stored events (the record has no time for it).
    const leased = changes.locator('tr[data-state="leased"]');
    await leased.waitFor({ timeout: 30_000 });
    expect(await text(leased)).toContain(node);
    const states = await changes.locator("tr").evaluateAll((rows) => rows.map((row) => row.dataset.state));
    expect(states).toEqual(expect.arrayContaining(["queued", "leased", "running", "succeeded"]));
    expect(states.at(-1)).toBe("succeeded");
    for (const row of await changes.locator("tr td:first-child").allTextContents())
      expect(row).toMatch(/\d:\d\d/);
    await screenshot(later, "04b-task-history");
    await later.context().close();
  });

  it("drains and undrains a node", async () => {
    await page.getByRole("link", { name: "Nodes", exact: true }).click();
    const card = page.locator('[data-node="laptop"]');
    await card.getByRole("button", { name: "Drain" }).click();
    await expect.poll(() => health(page, "laptop")).toBe("draining");
    expect((await client.nodes()).find((node) => node.id === "laptop")?.draining).toBe(true);
    await screenshot(page, "05-node-draining");
    await card.getByRole("button", { name: "Undrain" }).click();
    await expect.poll(() => health(page, "laptop")).toBe("ready");
  });

  it("turns a killed agent's node red and shows its task moving to another node", async () => {
    const task = await client.submit(
      { kind: "exec", argv: ["sleep", "120"], needs: { docker: true } },
      { wait: false },
    );
    // Once it runs on linux-box, a second node that can take it joins, and linux-box is killed.
    await expect.poll(async () => (await client.task(task.id)).state, { timeout: 30_000 }).toBe("running");
    await setup.fleet.startAgent({ id: "spare", slots: 2, labels: { docker: "true" } });
    await page.getByRole("link", { name: "Tasks", exact: true }).click();
    const row = page.locator(`[data-testid="running"] tr[data-task="${task.id}"]`);
    await expect.poll(() => text(row), { timeout: 30_000 }).toContain("linux-box");
    setup.fleet.agents.get("linux-box")?.signal("SIGKILL");
    await page.getByRole("link", { name: "Nodes", exact: true }).click();
    await expect.poll(() => health(page, "linux-box"), { timeout: 30_000 }).toBe("dead");
    const border = await page
      .locator('[data-node="linux-box"]')
      .evaluate((card) => getComputedStyle(card).borderTopColor);
    expect(border).toBe("rgb(211, 58, 44)");
    await screenshot(page, "06-node-dead");
    await page.getByRole("link", { name: "Tasks", exact: true }).click();
    await expect.poll(() => text(row), { timeout: 30_000 }).toContain("spare");
    await screenshot(page, "07-task-moved");
    await client.cancel(task.id);
  });

  it("fires an alert when the fleet drops below its minimum size, and resolves it when the node returns", async () => {
    // mac-mini, laptop and spare are healthy (linux-box died above): one fewer is below the minimum of 3.
    await page.getByRole("link", { name: "Alerts", exact: true }).click();
    setup.fleet.agents.get("laptop")?.signal("SIGKILL");
    const alert = page.locator('[data-testid="alerts"] [data-alert="cluster_size"]');
    await alert.waitFor({ timeout: 30_000 });
    expect(await text(alert)).toContain("fleet");
    await expect.poll(() => text(page.locator("nav")), { timeout: 10_000 }).toContain("Alerts1");
    await screenshot(page, "08-alert-fired");
    await setup.fleet.startAgent(AGENTS[2] ?? { id: "laptop" });
    await alert.waitFor({ state: "detached", timeout: 30_000 });
    await expect
      .poll(() => text(page.locator('[data-testid="alert-history"]')), { timeout: 10_000 })
      .toContain("alert.resolved");
    await screenshot(page, "09-alert-resolved");
  });

  it("follows the system's dark mode, and fits a laptop's width", async () => {
    const dark = await signedIn(browser, setup.baseUrl, setup.adminToken, "/", {
      colorScheme: "dark",
      viewport: { width: 1280, height: 800 },
    });
    const background = await dark.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(background).toBe("rgb(20, 21, 24)");
    await dark.getByRole("link", { name: "Queues", exact: true }).click();
    await dark.getByTestId("oldest").waitFor();
    const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(dark, "10-queues-dark");
    await dark.getByRole("link", { name: "Nodes", exact: true }).click();
    await expect.poll(() => health(dark, "mac-mini")).toBe("ready");
    await screenshot(dark, "11-nodes-dark");
    await dark.context().close();
  });

  it("shows a read-only token no action buttons", async () => {
    const task = await client.submit({ kind: "exec", argv: ["sleep", "60"] }, { wait: false });
    await client.drain("laptop");
    const reader = await signedIn(browser, setup.baseUrl, setup.readToken);
    expect(await text(reader.locator(".who"))).toContain("wall (read)");
    await expect.poll(() => reader.locator("[data-node]").count()).toBe(4);
    for (const path of ["/", "/nodes", "/tasks", `/tasks/${task.id}`, "/projects", "/dlq", "/broadcasts"]) {
      await reader.goto(`${setup.baseUrl}${path}`);
      await reader.locator(".who").waitFor();
      await reader.locator("main section").first().waitFor();
      await expect(reader.locator("button[data-action]").count()).resolves.toBe(0);
    }
    await reader.goto(`${setup.baseUrl}/tasks`);
    await reader.locator(`tr[data-task="${task.id}"]`).first().waitFor({ timeout: 30_000 });
    await expect(reader.locator("button[data-action]").count()).resolves.toBe(0);
    await screenshot(reader, "12-read-only");
    await client.cancel(task.id);
    await client.undrain("laptop");
  });
});

/** The health a node's card shows, or undefined while there is no card. */
async function health(page: Page, nodeId: string): Promise<string | null | undefined> {
  const card = page.locator(`[data-node="${nodeId}"]`);
  return (await card.count()) === 0 ? undefined : await card.getAttribute("data-health");
}
