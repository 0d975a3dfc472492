/** The dead-letter queue, with a retry for tokens that may. */
import type { FleetStore } from "../fleet-store.js";
import { clock } from "../format.js";
import { link } from "../router.js";
import { ActionButton } from "./widgets.js";

export function DlqView({ store }: { store: FleetStore }) {
  const client = store.client;
  const admin = store.identity.scope === "admin";
  return (
    <section>
      <h2>
        Dead-letter queue <span class="muted">{store.dlq.length}</span>
      </h2>
      {store.dlq.length === 0 ? (
        <p class="muted">empty</p>
      ) : (
        <table data-testid="dlq">
          <thead>
            <tr>
              <th>task</th>
              <th>attempts</th>
              <th>reason</th>
              <th>at</th>
              {admin ? <th /> : null}
            </tr>
          </thead>
          <tbody>
            {store.dlq.map((entry) => (
              <tr key={entry.taskId}>
                <td>
                  <a {...link(`/tasks/${entry.taskId}`)}>{entry.taskId}</a>
                </td>
                <td class="number">{entry.attempts}</td>
                <td>{entry.reason}</td>
                <td>{clock(entry.at)}</td>
                {admin && client ? (
                  <td>
                    <ActionButton
                      label="Retry"
                      run={() => client.dlq.retry(entry.taskId)}
                      after={() => store.refreshDlq()}
                    />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
