/**
 * Tasks: the running ones (linked to their page, where the output streams live), and the recent ones
 * filtered by state, node, submitter and text. Lists are cut to a few hundred rows: the fleet may hold
 * ten thousand tasks, the page need not draw them all.
 */
import { TASK_STATES, TERMINAL_STATES } from "@flotilla/protocol";
import { memo } from "preact/compat";
import { useRef, useState } from "preact/hooks";
import type { FleetStore, TaskRow } from "../fleet-store.js";
import { ago } from "../format.js";
import { link } from "../router.js";
import { ActionButton, SearchBox, StateBadge, useTickingText } from "./widgets.js";

const SHOWN = 200;

export function TasksView({ store }: { store: FleetStore }) {
  const [state, setState] = useState("");
  const [node, setNode] = useState("");
  const [submitter, setSubmitter] = useState("");
  const [text, setText] = useState("");
  const all = [...store.tasks.values()];
  const running = all.filter((task) => task.state === "running").sort((a, b) => b.updatedAt - a.updatedAt);
  const needle = text.trim().toLowerCase();
  const recent = all
    .filter(
      (task) =>
        (state === "" || task.state === state) &&
        (node === "" || task.node === node) &&
        (submitter === "" || task.submitter === submitter) &&
        (needle === "" ||
          task.id.toLowerCase().includes(needle) ||
          task.command.toLowerCase().includes(needle)),
    )
    .sort((a, b) => b.updatedAt - a.updatedAt);
  const submitters = [
    ...new Set(all.map((task) => task.submitter).filter((name) => name !== undefined)),
  ].sort();
  return (
    <section>
      <h2>
        Running <span class="muted">{running.length}</span>
      </h2>
      <TaskTable store={store} tasks={running.slice(0, SHOWN)} testId="running" />
      <h2>
        Recent <span class="muted">{recent.length}</span>
      </h2>
      <div class="filters">
        <select aria-label="state" value={state} onChange={(event) => setState(event.currentTarget.value)}>
          <option value="">any state</option>
          {TASK_STATES.map((name) => (
            <option key={name}>{name}</option>
          ))}
        </select>
        <select aria-label="node" value={node} onChange={(event) => setNode(event.currentTarget.value)}>
          <option value="">any node</option>
          {store.nodes.map((entry) => (
            <option key={entry.id}>{entry.id}</option>
          ))}
        </select>
        <select
          aria-label="submitter"
          value={submitter}
          onChange={(event) => setSubmitter(event.currentTarget.value)}
        >
          <option value="">any submitter</option>
          {submitters.map((name) => (
            <option key={name}>{name}</option>
          ))}
        </select>
        <SearchBox label="text" placeholder="id or command" value={text} onChange={setText} />
      </div>
      <TaskTable store={store} tasks={recent.slice(0, SHOWN)} testId="recent" />
      {recent.length > SHOWN ? (
        <p class="muted">and {recent.length - SHOWN} more: narrow the filter</p>
      ) : null}
    </section>
  );
}

/** A cell's age from its `data-updated` time. */
function updatedAge(cell: HTMLElement): string {
  return ago(Number(cell.dataset.updated));
}

/**
 * A table of tasks. Rows are drawn again only when what they show changed (the store changes a task's
 * row in place, so each row gets its fields, not the object); the ages, which change with the clock,
 * are rewritten in place once a second.
 */
export function TaskTable({ store, tasks, testId }: { store: FleetStore; tasks: TaskRow[]; testId: string }) {
  const table = useRef<HTMLTableElement>(null);
  useTickingText(table, "[data-updated]", updatedAge);
  const canCancel = store.identity.scope === "admin" || store.identity.scope === "submit";
  if (tasks.length === 0) return <p class="muted">none</p>;
  return (
    <table data-testid={testId} ref={table}>
      <thead>
        <tr>
          <th>task</th>
          <th>state</th>
          <th>node</th>
          <th>command</th>
          <th>submitter</th>
          <th>updated</th>
          {canCancel ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {tasks.map((task) => (
          <TaskLine
            key={task.id}
            store={store}
            id={task.id}
            state={task.state}
            node={task.node}
            command={task.command}
            submitter={task.submitter}
            updatedAt={task.updatedAt}
            cancelColumn={canCancel}
          />
        ))}
      </tbody>
    </table>
  );
}

const TaskLine = memo(function TaskLine({
  store,
  id,
  state,
  node,
  command,
  submitter,
  updatedAt,
  cancelColumn,
}: {
  store: FleetStore;
  id: string;
  state: string;
  node: string | undefined;
  command: string;
  submitter: string | undefined;
  updatedAt: number;
  cancelColumn: boolean;
}) {
  const client = store.client;
  return (
    <tr data-task={id}>
      <td>
        <a {...link(`/tasks/${id}`)}>{id}</a>
      </td>
      <td>
        <StateBadge state={state} />
      </td>
      <td>{node ?? "—"}</td>
      <td class="command">{command}</td>
      <td>{submitter ?? ""}</td>
      <td data-updated={updatedAt}>{ago(updatedAt)}</td>
      {cancelColumn ? (
        <td>
          {client && !isFinished(state) && mayCancel(store, { submitter }) ? (
            <ActionButton
              label="Cancel"
              danger
              run={() => client.cancel(id, "cancelled from the dashboard")}
            />
          ) : null}
        </td>
      ) : null}
    </tr>
  );
});

export function isFinished(state: string): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** An `admin` token cancels any task, a `submit` token its own. */
export function mayCancel(store: FleetStore, task: { submitter?: string | undefined }): boolean {
  const identity = store.identity;
  return identity.scope === "admin" || (identity.scope === "submit" && task.submitter === identity.name);
}
