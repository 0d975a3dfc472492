/**
 * Nodes: one card each with health (ready, busy, draining, suspect, dead — a dead node's card turns red),
 * os/arch, labels and capabilities, slots, load and memory over the last 15 minutes, breaker state and
 * heartbeat age; drain and undrain for tokens that may.
 */
import type { NodeView } from "@flotilla/client";
import { memo } from "preact/compat";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { Chart } from "../chart.js";
import type { FleetStore } from "../fleet-store.js";
import { ago, bytes } from "../format.js";
import type { NodeCharts } from "../history.js";
import { ActionButton, useTickingText } from "./widgets.js";

/** The one word for a node's condition that the page colours by. */
export function healthOf(node: NodeView): "dead" | "suspect" | "draining" | "busy" | "ready" {
  if (node.health === "dead") return "dead";
  if (node.health === "suspect") return "suspect";
  if (node.draining) return "draining";
  if (node.slotsUsed >= node.slotsTotal && node.slotsTotal > 0) return "busy";
  return "ready";
}

export function NodesView({ store }: { store: FleetStore }) {
  return <NodesSection store={store} nodes={store.nodes} chartsVersion={store.chartsVersion} />;
}

/**
 * The cards, drawn again only when a node's card changed (the store then makes a new list) or the charts
 * were read again, not at every render batch of the page around them.
 */
const NodesSection = memo(
  function NodesSection({ store, nodes }: { store: FleetStore; nodes: NodeView[]; chartsVersion: number }) {
    const admin = store.identity.scope === "admin";
    const counts = new Map<string, number>();
    for (const node of nodes) counts.set(healthOf(node), (counts.get(healthOf(node)) ?? 0) + 1);
    const section = useRef<HTMLElement>(null);
    // Heartbeat ages change every second on every card: one pass rewrites their text in place.
    const heartbeatAge = useCallback(
      (cell: HTMLElement) => ago(store.live.get(cell.dataset.heartbeat ?? "")?.lastHeartbeatAt),
      [store],
    );
    useTickingText(section, "[data-heartbeat]", heartbeatAge);
    return (
      <section ref={section}>
        <h2>
          Nodes <span class="muted">{nodes.length}</span>
          {[...counts].map(([health, count]) => (
            <span key={health} class={`pill ${health}`}>
              {count} {health}
            </span>
          ))}
        </h2>
        <div class="cards">
          {nodes.map((node) => (
            <NodeCard
              key={node.id}
              node={node}
              store={store}
              admin={admin}
              charts={store.chartsOf(node.id)}
            />
          ))}
        </div>
      </section>
    );
  },
  (before, after) => before.nodes === after.nodes && before.chartsVersion === after.chartsVersion,
);

/**
 * The figures of a node that change with its heartbeats (slots in use, queue, load, memory): their own
 * small component, redrawn when they changed for this node while the card around it stays as it is.
 */
function LiveFigures({ store, id }: { store: FleetStore; id: string }) {
  const [, setVersion] = useState(store.liveVersions.get(id));
  useEffect(() => store.batch.subscribe(() => setVersion(store.liveVersions.get(id))), [store, id]);
  const node = store.live.get(id);
  if (!node) return null;
  return (
    <>
      <dt>slots</dt>
      <dd>
        {node.slotsUsed} / {node.slotsTotal} used · {node.queued} queued
      </dd>
      <dt>load</dt>
      <dd>
        {node.load1.toFixed(2)} · memory {bytes(node.memoryBytes ?? 0)}
      </dd>
      <dt>heartbeat</dt>
      <dd data-heartbeat={id}>{ago(node.lastHeartbeatAt)}</dd>
    </>
  );
}

interface NodeCardProps {
  node: NodeView;
  store: FleetStore;
  admin: boolean;
  charts: NodeCharts | undefined;
}

/**
 * Redrawn when its node's listing (each second) or its charts (each history read) change, not on every
 * batch of task events: with 200 nodes that is most of what a render would cost.
 */
const NodeCard = memo(
  function NodeCard({ node, store, admin, charts: series }: NodeCardProps) {
    const health = healthOf(node);
    const client = store.client;
    return (
      <article class={`card node ${health}`} data-node={node.id} data-health={health}>
        <header>
          <strong>{node.id}</strong>
          <span class={`pill ${health}`}>{health}</span>
        </header>
        <dl>
          <dt>host</dt>
          <dd>
            {node.host} · {node.os}/{node.arch}
          </dd>
          <LiveFigures store={store} id={node.id} />
          <dt>breaker</dt>
          <dd class={node.breaker === "closed" ? "" : "warn"}>{node.breaker}</dd>
          <dt>labels</dt>
          <dd>
            {Object.entries(node.labels).map(([key, value]) => (
              <code key={key}>
                {key}={value}
              </code>
            ))}
          </dd>
          <dt>caps</dt>
          <dd class="caps">
            {node.capabilities.map((capability) => (
              <code key={capability}>{capability}</code>
            ))}
          </dd>
        </dl>
        {series ? (
          <div class="charts">
            <figure>
              <figcaption>load per core</figcaption>
              <Chart data={series.load} labels={["load"]} height={50} width={130} />
            </figure>
            <figure>
              <figcaption>memory used</figcaption>
              <Chart data={series.memory} labels={["memory"]} height={50} width={130} range={[0, 1]} />
            </figure>
          </div>
        ) : null}
        {admin && client && health !== "dead" ? (
          <footer>
            {node.draining ? (
              <ActionButton
                label="Undrain"
                run={() => client.undrain(node.id)}
                after={() => store.refreshNodes()}
              />
            ) : (
              <ActionButton
                label="Drain"
                run={() => client.drain(node.id)}
                after={() => store.refreshNodes()}
              />
            )}
          </footer>
        ) : null}
      </article>
    );
  },
  (before, after) =>
    before.node === after.node && before.charts === after.charts && before.admin === after.admin,
);
