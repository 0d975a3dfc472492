/**
 * Queues: depth per priority (the coordinator's last history sample, which counts every task; the tasks
 * the page knows until one is in) and per node, the oldest waiting task and why it waits, and queue depth,
 * steals, reroutes and throughput over the last 15 minutes.
 */
import { PRIORITIES } from "@flotilla/protocol";
import { Chart } from "../chart.js";
import type { FleetStore } from "../fleet-store.js";
import { ago, duration } from "../format.js";
import { fleetSeries, queuedTotal } from "../history.js";
import { link } from "../router.js";

const PENDING = new Set(["accepted", "waiting", "queued"]);

export function QueuesView({ store }: { store: FleetStore }) {
  const latest = store.history.samples[store.history.samples.length - 1]?.fleet;
  const known = new Map<string, number>(PRIORITIES.map((priority) => [priority, 0]));
  let oldest: { id: string; createdAt: number; state: string; why: string } | undefined;
  for (const task of store.tasks.values()) {
    if (!PENDING.has(task.state)) continue;
    const priority = task.priority ?? "normal";
    known.set(priority, (known.get(priority) ?? 0) + 1);
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
  const byPriority = PRIORITIES.map((priority) => [
    priority,
    latest?.queued[priority] ?? known.get(priority) ?? 0,
  ]);
  const history = store.history;
  return (
    <section>
      <h2>Queues</h2>
      <div class="cards">
        <article class="card">
          <header>By priority</header>
          <table>
            <tbody>
              {byPriority.map(([priority, count]) => (
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
          {latest && latest.oldestWaitMs > 0 ? (
            <p class="muted">the fleet's oldest has waited {duration(latest.oldestWaitMs)}</p>
          ) : null}
        </article>
      </div>
      {history.samples.length > 1 ? (
        <div class="cards">
          <article class="card">
            <header>Depth and running</header>
            <Chart
              data={fleetSeries(history, queuedTotal, (fleet) => fleet.running)}
              labels={["not yet leased", "running"]}
            />
          </article>
          <article class="card">
            <header>Steals and reroutes (per sample)</header>
            <Chart
              data={fleetSeries(
                history,
                (fleet) => fleet.steals,
                (fleet) => fleet.reroutes,
              )}
              labels={["steals", "reroutes"]}
            />
          </article>
          <article class="card">
            <header>Throughput (runs per minute)</header>
            <Chart data={fleetSeries(history, (fleet) => fleet.throughputPerMin)} labels={["runs/min"]} />
          </article>
        </div>
      ) : (
        <p class="muted">Charts appear once the coordinator has two history samples.</p>
      )}
    </section>
  );
}
