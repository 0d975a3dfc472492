/** Alerts firing now, the fleet's events (`agents:events`), and broadcasts, with a form to send one. */
import { memo } from "preact/compat";
import { useState } from "preact/hooks";
import type { FeedEntry, FleetStore } from "../fleet-store.js";
import { ago, clock } from "../format.js";
import { ActionButton } from "./widgets.js";

export function AlertsView({ store }: { store: FleetStore }) {
  const alerts = [...store.alerts.values()].sort((a, b) => a.firedAt - b.firedAt);
  return (
    <section>
      <h2>
        Alerts <span class="muted">{alerts.length} firing</span>
      </h2>
      {alerts.length === 0 ? (
        <p class="muted">none firing</p>
      ) : (
        <ul class="alerts" data-testid="alerts">
          {alerts.map((alert) => (
            <li key={alert.id} data-alert={alert.rule} data-subject={alert.subject}>
              <strong>{alert.rule}</strong> ({alert.subject}) since {ago(alert.firedAt)}: {alert.message}
            </li>
          ))}
        </ul>
      )}
      <h3>History</h3>
      <Feed entries={store.feed.filter((entry) => entry.type.startsWith("alert."))} testId="alert-history" />
    </section>
  );
}

/** The fleet's events; `limit` rows at most (the overview shows fewer than the events page). */
export function EventsView({ store, limit = MAX_ROWS }: { store: FleetStore; limit?: number }) {
  return (
    <section>
      <h2>Fleet events</h2>
      <Feed entries={store.feed} testId="events" limit={limit} />
    </section>
  );
}

export function BroadcastsView({ store }: { store: FleetStore }) {
  const [text, setText] = useState("");
  const client = store.client;
  return (
    <section>
      <h2>Broadcasts</h2>
      {store.identity.scope === "admin" && client ? (
        <form class="filters" onSubmit={(event) => event.preventDefault()}>
          <input
            aria-label="broadcast message"
            placeholder="a message to every node"
            value={text}
            onInput={(event) => setText(event.currentTarget.value)}
          />
          <ActionButton label="Broadcast" run={() => client.broadcast(text)} after={() => setText("")} />
        </form>
      ) : null}
      <Feed entries={store.broadcasts} testId="broadcasts" />
    </section>
  );
}

const MAX_ROWS = 200;

function Feed({
  entries,
  testId,
  limit = MAX_ROWS,
}: {
  entries: readonly FeedEntry[];
  testId: string;
  limit?: number;
}) {
  return <FeedRows entries={entries} testId={testId} limit={limit} newest={entries[0]?.seq} />;
}

/**
 * The rows, drawn again only when a new entry came (the store adds entries at the front of a list it keeps,
 * so the newest entry's number tells whether the list changed).
 */
const FeedRows = memo(
  function FeedRows({
    entries,
    testId,
    limit,
  }: {
    entries: readonly FeedEntry[];
    testId: string;
    limit: number;
    newest: number | undefined;
  }) {
    if (entries.length === 0) return <p class="muted">nothing yet</p>;
    return (
      <table data-testid={testId}>
        <tbody>
          {entries.slice(0, limit).map((entry) => (
            <FeedRow key={entry.seq} entry={entry} />
          ))}
        </tbody>
      </table>
    );
  },
  (before, after) =>
    before.newest === after.newest && before.limit === after.limit && before.testId === after.testId,
);

/** One entry: entries never change, so a row is drawn once, not at every render. */
const FeedRow = memo(function FeedRow({ entry }: { entry: FeedEntry }) {
  return (
    <tr class={entry.type.replace(/\./g, "-")}>
      <td>{clock(entry.at)}</td>
      <td>
        <code>{entry.type}</code>
      </td>
      <td>{entry.node ?? ""}</td>
      <td>{entry.text}</td>
    </tr>
  );
});
