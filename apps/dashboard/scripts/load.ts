/**
 * The dashboard under load (a command, not a test): a real coordinator with 200 simulated agents (real
 * WebSocket connections, 25 per process) and 10,000 tasks, the page open in headless Chromium. Prints
 * JSON lines:
 *   {"firstRenderMs"}      navigation to all 200 node cards on the page (goal ≤ 1000)
 *   {"eventToPageMs"}      a fleet event (a broadcast, a drained node) to its appearance on the page,
 *                          while the tasks run (goal ≤ 500), per probe and the largest
 *   {"longestTaskMs"}      the longest main-thread task the page ran (PerformanceObserver "longtask";
 *                          goal ≤ 50), and how many went over 50 ms: during the first render, then
 *                          while the tasks run
 * Tasks are submitted at a steady `--rate` a second (default 250) rather than all at once, as a busy
 * fleet gets them; the coordinator is the built one (`pnpm build` first).
 * `--during /dlq` moves the page to another view once the probes are done, to tell what rendering costs
 * from what following the events costs.
 * Usage: pnpm --filter @flotilla/dashboard load [--agents 200] [--tasks 10000] [--per-process 25] [--rate 250]
 */
import { parseArgs } from "node:util";
import { connect } from "@flotilla/client";
import { type Service, startService } from "@flotilla/launcher";
import { agentBin, builtCoordinatorBin } from "@flotilla/testing";
import { buildDashboard, launchBrowser, startBrowserFleet } from "../test/browser-fleet.js";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "200" },
    tasks: { type: "string", default: "10000" },
    "per-process": { type: "string", default: "25" },
    rate: { type: "string", default: "250" },
    // The view open while the tasks run (the probes read the overview's event list and node cards).
    during: { type: "string", default: "/" },
  },
});
const agentCount = Number(values.agents);
const taskCount = Number(values.tasks);
const perProcess = Number(values["per-process"]);
const rate = Number(values.rate);
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

buildDashboard();
const setup = await startBrowserFleet(
  [],
  [...["--max-waiting", String(taskCount * 2), "--alert-max-nodes", String(agentCount * 2)]],
  builtCoordinatorBin(),
);
const loaders: Service[] = [];
const browser = await launchBrowser();
const client = await connect({ url: setup.fleet.url, token: setup.adminToken });
try {
  const bin = agentBin();
  const script = new URL("./load-agents.ts", import.meta.url).pathname;
  const starts: Promise<Service>[] = [];
  for (let first = 0; first < agentCount; first += perProcess) {
    starts.push(
      startService({
        name: `load agents ${first}`,
        command: bin.command,
        args: [
          ...bin.args.slice(0, -1),
          script,
          ...["--coordinator", setup.fleet.url, "--first", String(first)],
          ...["--count", String(Math.min(perProcess, agentCount - first))],
        ],
        env: { FLOTILLA_TOKEN: setup.adminToken },
        ready: /load agents .* ready/,
        readyTimeoutMs: 120_000,
      }),
    );
  }
  loaders.push(...(await Promise.all(starts)));
  while ((await client.nodes()).length < agentCount) await new Promise((resolve) => setTimeout(resolve, 200));
  print({
    agents: agentCount,
    processes: loaders.length,
    note: "machine shared and loaded: figures are indicative",
  });

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await context.addInitScript(
    ([token]) => {
      sessionStorage.setItem("flotilla.token", token ?? "");
      const longest = { max: 0, over50: 0 };
      (window as unknown as { __longTasks: typeof longest }).__longTasks = longest;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          longest.max = Math.max(longest.max, entry.duration);
          if (entry.duration > 50) longest.over50 += 1;
        }
      }).observe({ type: "longtask", buffered: true });
    },
    [setup.adminToken],
  );
  const page = await context.newPage();
  await page.goto(`${setup.baseUrl}/`);
  await page.waitForFunction(
    (count) => document.querySelectorAll("[data-node]").length >= count,
    agentCount,
    {
      polling: "raf",
      timeout: 120_000,
    },
  );
  print({ firstRenderMs: Math.round(await page.evaluate(() => performance.now())) });
  // Long tasks of the first render (loading, 200 cards drawn) apart from those while the tasks run.
  const initialTasks = await page.evaluate(() => {
    const longest = (window as unknown as { __longTasks: { max: number; over50: number } }).__longTasks;
    const seen = { ...longest };
    longest.max = 0;
    longest.over50 = 0;
    return seen;
  });
  print({ longestTaskMs: initialTasks, phase: "first render" });

  // 10,000 tasks, submitted in batches while the page watches; probes measured meanwhile.
  const results: Promise<unknown>[] = [];
  const started = Date.now();
  const submitting = (async () => {
    const perTick = Math.max(1, Math.round(rate / 10));
    for (let sent = 0; sent < taskCount; sent += perTick) {
      const due = started + (sent / rate) * 1000;
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      const batch = Array.from({ length: Math.min(perTick, taskCount - sent) }, (_, index) =>
        client.submit({ kind: "call", handler: "sleep", payload: { ms: 200 + ((sent + index) % 7) * 100 } }),
      );
      for (const task of await Promise.all(batch)) {
        const result = task.result();
        result.catch(() => undefined);
        results.push(result);
      }
    }
  })();
  const delays: number[] = [];
  /** Acts, then waits (each animation frame) for `selector` on the page, optionally holding `text`. */
  const probe = async (label: string, act: () => Promise<unknown>, selector: string, text = "") => {
    const sentAt = Date.now();
    await act();
    const seenAt = await page.waitForFunction(
      ([css, needle]) => {
        const found = [...document.querySelectorAll(css ?? "")].some((el) =>
          el.textContent?.includes(needle ?? ""),
        );
        return found ? Date.now() : 0;
      },
      [selector, text],
      { polling: "raf", timeout: 60_000 },
    );
    const delay = (await seenAt.jsonValue()) - sentAt;
    delays.push(delay);
    print({ eventToPageMs: delay, probe: label });
  };
  for (let round = 0; round < 8; round += 1) {
    const text = `probe-${round}-${Date.now()}`;
    await probe("broadcast", () => client.broadcast(text), '[data-testid="events"] tr', text);
    const node = `sim-${String(round * 7).padStart(3, "0")}`;
    await probe("node.drain", () => client.drain(node), `[data-node="${node}"][data-health="draining"]`);
    await client.undrain(node);
  }
  if (values.during !== "/") {
    const probing = await page.evaluate((path) => {
      const longest = (window as unknown as { __longTasks: { max: number; over50: number } }).__longTasks;
      const seen = { ...longest };
      longest.max = 0;
      longest.over50 = 0;
      history.pushState(null, "", path);
      dispatchEvent(new PopStateEvent("popstate"));
      return seen;
    }, values.during);
    print({ longestTaskMs: probing, phase: "under load, overview, while probing" });
  }
  await submitting;
  await Promise.all(results);
  print({ tasks: taskCount, finished: results.length, seconds: Math.round((Date.now() - started) / 1000) });
  const longTasks = await page.evaluate(() => (window as unknown as { __longTasks: unknown }).__longTasks);
  print({ eventToPageMs: { max: Math.max(...delays), probes: delays.length } });
  print({
    longestTaskMs: longTasks,
    phase: `under load, ${values.during === "/" ? "overview" : values.during}`,
  });
} finally {
  client.close();
  await browser.close();
  await Promise.all(loaders.map((loader) => loader.stop()));
  await setup.fleet.stop();
}
