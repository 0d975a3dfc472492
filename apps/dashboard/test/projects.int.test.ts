/**
 * The Projects view in headless Chromium against a real Redis and coordinator: a project made with the
 * SDK, a task claimed by an agent shown in progress with its assignee, a done task approved from the page
 * by an admin, and a read-only token seeing no approve button. Each step waits for what the page shows.
 */

import { connect, type FlotillaClient } from "@flotilla/client";
import type { Browser } from "playwright-core";
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

describe("the Projects view", () => {
  let setup: BrowserFleet;
  let browser: Browser;
  let admin: FlotillaClient;
  let agent: FlotillaClient;

  beforeAll(async () => {
    buildDashboard();
    setup = await startBrowserFleet([{ id: "solo", slots: 1 }]);
    browser = await launchBrowser();
    admin = await connect({ url: setup.fleet.url, token: setup.adminToken });
    agent = await connect({
      url: setup.fleet.url,
      token: setup.adminToken,
      agent: "coder",
      capabilities: ["typescript"],
    });
  });
  afterAll(async () => {
    admin?.close();
    agent?.close();
    await browser?.close();
    await setup?.fleet.stop();
  });

  it("lists projects, shows a claimed task in progress with its assignee, and approves a done task", async () => {
    const project = await admin.projects.create({
      initialPrompt: "Port the log parser to TypeScript and review it",
      tasks: [
        { title: "Port the parser", description: "src/parse.ts", priority: "high", needs: ["typescript"] },
      ],
    });
    const first = project.tasks[0];
    if (!first) throw new Error("the project has no task");
    const [second] = await admin.projects.addTasks(project.projectId, [
      { title: "Review the port", description: "read it through", after: [first.id] },
    ]);
    const claimed = await agent.projects.claimNext({ projectId: project.projectId });
    expect(claimed.task?.id).toBe(first.id);
    const assignee = claimed.task?.assignee ?? "";
    expect(assignee).toContain("coder");

    const page = await signedIn(browser, setup.baseUrl, setup.adminToken);
    await page.getByRole("link", { name: "Projects", exact: true }).click();
    const row = page.locator(`[data-testid="projects"] tr[data-project="${project.projectId}"]`);
    await expect.poll(() => text(row), { timeout: 30_000 }).toContain("Port the log parser");
    // A project made while the list is open appears on it, pushed (sooner than the 30 s fallback read).
    const later = await admin.projects.create({ initialPrompt: "Pushed to the open list", tasks: [] });
    await page
      .locator(`[data-testid="projects"] tr[data-project="${later.projectId}"]`)
      .waitFor({ timeout: 15_000 });
    await row.getByRole("link", { name: project.projectId }).click();

    const inProgress = page.locator(`[data-testid="project-in-progress"] tr[data-task="${first.id}"]`);
    await expect.poll(() => text(inProgress), { timeout: 30_000 }).toContain(assignee);
    expect(await text(inProgress)).toContain("high");
    const waiting = page.locator(`[data-testid="project-not-started"] tr[data-task="${second?.id}"]`);
    expect(await text(waiting)).toContain(first.id);
    await screenshot(page, "13-project-in-progress");

    // The agent finishes while the page stays open: the change is pushed and the page follows without a
    // reload, well before its fallback read (every PROJECT_FALLBACK_MS, 30 s) would have shown it.
    await agent.projects.updateTask(project.projectId, first.id, {
      status: "done",
      completedDetails: "ported, tests pass",
    });
    const done = page.locator(`[data-testid="project-done"] tr[data-task="${first.id}"]`);
    await done.getByRole("button", { name: "Approve" }).waitFor({ timeout: 15_000 });
    await screenshot(page, "14-project-done");
    await done.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => text(done), { timeout: 30_000 }).toContain("yes");
    expect((await admin.projects.readTask(first.id)).approved).toBe(true);
    await page.context().close();
  });

  it("shows a read-only token no approve button", async () => {
    const project = await admin.projects.create({
      initialPrompt: "Write the changelog",
      tasks: [{ title: "Draft it", description: "from the merged work" }],
    });
    const task = project.tasks[0];
    if (!task) throw new Error("the project has no task");
    await agent.projects.claimNext({ projectId: project.projectId });
    await agent.projects.updateTask(project.projectId, task.id, {
      status: "done",
      completedDetails: "drafted",
    });
    const reader = await signedIn(browser, setup.baseUrl, setup.readToken, `/projects/${project.projectId}`);
    const done = reader.locator(`[data-testid="project-done"] tr[data-task="${task.id}"]`);
    await done.waitFor({ timeout: 30_000 });
    expect(await text(done)).toContain("no");
    await expect(reader.locator("button[data-action]").count()).resolves.toBe(0);
    await reader.goto(`${setup.baseUrl}/projects`);
    await reader.locator(`tr[data-project="${project.projectId}"]`).waitFor({ timeout: 30_000 });
    await expect(reader.locator("button[data-action]").count()).resolves.toBe(0);
    await screenshot(reader, "15-projects-read-only");
    await reader.context().close();
  });
});
