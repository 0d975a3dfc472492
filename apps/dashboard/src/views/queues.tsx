/**
 * Queues: depth per priority (from the tasks the page knows) and per node (each node's own count), the
 * oldest waiting task and why it waits, and steals, reroutes and throughput over time.
 */
import { PRIORITIES } from "@flotilla/protocol";
import { Chart } from "../chart.js";
import type { FleetStore } from "../fleet-store.js";
import { ago } from "../format.js";
import { rates } from "../history.js";
import { link } from "../router.js";

const PENDING = new Set(["accepted", "waiting", "queued"]);

export function QueuesView({ store }: { store: FleetStore }) {
  const byPriority = new Map<string, number>(PRIORITIES.map((priority) => [priority, 0]));
  let oldest: { id: string; createdAt: number; state: string; why: string } | undefined;
  for (const task of store.tasks.values()) {
    if (!PENDING.has(task.state)) continue;
    const priority = task.priority ?? "normal";
    byPriority.set(priority, (byPriority.get(priority) ?? 0) + 1);
    if (oldest === undefined || task.createdAt < oldest.createdAt) {
      const why =
        task.state === "waiting"
          ? (task.waitingReason ?? "no node can take it yet")
          : task.state === "queued"
            ? `queued behind others on ${task.node ?? "its node"}`
            : "being placed";
      oldest = { id: task.id, createdAt: task.createdAt, state: task.state, why };
    }
  }
  const history = store.fleetHistory;
  const [times, queued = [], waiting = [], steals = [], reroutes = [], finished = []] = history.data();
  return (
    <section>
      <h2>Queues</h2>
      <div class="cards">
        <article class="card">
          <header>By priority</header>
          <table>
            <tbody>
              {[...byPriority].map(([priority, count]) => (
                <tr key={priority}>
                  <td>{priority}</td>
                  <td class="number">{count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
        <article class="card">
          <header>By node</header>
          <table>
            <tbody>
              {store.nodes.map((node) => (
                <tr key={node.id}>
                  <td>{node.id}</td>
                  <td class="number">{node.queued}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
        <article class="card" data-testid="oldest">
          <header>Oldest waiting</header>
          {oldest ? (
            <p>
              <a {...link(`/tasks/${oldest.id}`)}>{oldest.id}</a>, {oldest.state} since{" "}
              {ago(oldest.createdAt)}: {oldest.why}
            </p>
          ) : (
            <p class="muted">nothing waits</p>
          )}
        </article>
      </div>
      {history.length > 1 ? (
        <div class="cards">
          <article class="card">
            <header>Depth</header>
            <Chart data={[times, queued, waiting]} labels={["queued", "waiting"]} />
          </article>
          <article class="card">
            <header>Steals and reroutes (per s)</header>
            <Chart
              data={[times, rates(times, steals), rates(times, reroutes)]}
              labels={["steals", "reroutes"]}
            />
          </article>
          <article class="card">
            <header>Throughput (tasks/s)</header>
            <Chart data={[times, rates(times, finished)]} labels={["finished"]} />
          </article>
        </div>
      ) : null}
    </section>
  );
}
