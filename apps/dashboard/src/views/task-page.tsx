/**
 * One task: its spec (secret values arrive masked from the coordinator), attempts, every state change
 * with node and time (those before the page opened read with `task.events`), its output (live while it runs) with a search box, exit code and duration; cancel
 * for tokens that may.
 */
import type { OutputChunk, TaskEvent } from "@flotilla/client";
import type { TaskRecord } from "@flotilla/protocol";
import { useEffect, useState } from "preact/hooks";
import { RenderBatch } from "../batch.js";
import type { FleetStore } from "../fleet-store.js";
import { clock, duration } from "../format.js";
import { timeline } from "../timeline.js";
import { isFinished, mayCancel } from "./tasks.js";
import { ActionButton, SearchBox, StateBadge } from "./widgets.js";

const MAX_OUTPUT_CHARS = 2_000_000;

export function TaskPage({ store, id }: { store: FleetStore; id: string }) {
  const [record, setRecord] = useState<TaskRecord | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const [stored, setStored] = useState<TaskEvent[]>([]);
  const [events, setEvents] = useState<TaskEvent[]>([]);
  const [output, setOutput] = useState<OutputChunk[]>([]);
  const [search, setSearch] = useState("");
  useEffect(() => {
    const client = store.client;
    if (!client) return;
    let stopped = false;
    const seen: TaskEvent[] = [];
    const chunks: OutputChunk[] = [];
    // Output can come in thousands of chunks: the page shows it at the render batch's pace.
    const batch = new RenderBatch(150);
    const unsubscribe = batch.subscribe(() => {
      setEvents([...seen]);
      setOutput([...chunks]);
    });
    const reload = () =>
      store
        .task(id)
        .then((found) => !stopped && setRecord(found))
        .catch((error: Error) => !stopped && setFailure(error.message));
    void reload();
    // The changes that happened before the page opened; a coordinator without `task.events` leaves the
    // record's times to stand in for them.
    client
      .taskEvents(id)
      .then((found) => !stopped && setStored(found))
      .catch(() => undefined);
    void (async () => {
      try {
        for await (const update of client.watch(id).updates()) {
          if (stopped) break;
          if (update.kind === "event") {
            seen.push(update.event);
            if (isFinished(update.event.state)) void reload();
          } else {
            chunks.push(update.chunk);
          }
          batch.mark();
        }
      } catch (error) {
        if (!stopped) setFailure((error as Error).message);
      }
    })();
    return () => {
      stopped = true;
      unsubscribe();
    };
  }, [id, store]);
  if (failure && !record) return <p class="error">{failure}</p>;
  if (!record) return <p class="muted">loading {id}…</p>;
  const state = events[events.length - 1]?.state ?? record.state;
  const text = joinOutput(output);
  const lines = search === "" ? text.split("\n") : text.split("\n").filter((line) => line.includes(search));
  const client = store.client;
  const ended = "finishedAt" in record ? record : undefined;
  return (
    <section class="task-page" data-task={id}>
      <h2>
        {id} <StateBadge state={state} />
        {client && !isFinished(state) && mayCancel(store, record.spec) ? (
          <ActionButton label="Cancel" danger run={() => client.cancel(id, "cancelled from the dashboard")} />
        ) : null}
      </h2>
      <dl class="facts">
        <dt>node</dt>
        <dd>{record.node ?? "—"}</dd>
        <dt>exit code</dt>
        <dd data-testid="exit-code">{ended?.exitCode ?? "—"}</dd>
        <dt>duration</dt>
        <dd>{ended?.durationMs === undefined ? "—" : duration(ended.durationMs)}</dd>
        <dt>attempt</dt>
        <dd>{record.attempt}</dd>
      </dl>
      <h3>Spec</h3>
      <pre class="spec">{JSON.stringify(record.spec, null, 2)}</pre>
      {record.attempts && record.attempts.length > 0 ? (
        <>
          <h3>Earlier attempts</h3>
          <table>
            <tbody>
              {record.attempts.map((attempt) => (
                <tr key={attempt.attempt}>
                  <td>#{attempt.attempt}</td>
                  <td>{attempt.node}</td>
                  <td>{attempt.reason}</td>
                  <td>{clock(attempt.at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <h3>State changes</h3>
      <table data-testid="state-changes">
        <tbody>
          {timeline(record, [...stored, ...events]).map((event, index) => (
            <tr key={`${event.state}-${event.at}-${index}`} data-state={event.state}>
              <td>{clock(event.at)}</td>
              <td>
                <StateBadge state={event.state} />
              </td>
              <td>{event.node ?? ""}</td>
              <td>{event.reason ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>
        Output
        <SearchBox label="search output" placeholder="search" value={search} onChange={setSearch} />
      </h3>
      <pre class="output" data-testid="output">
        {lines.join("\n")}
      </pre>
    </section>
  );
}

function joinOutput(chunks: readonly OutputChunk[]): string {
  let text = chunks.map((chunk) => chunk.data).join("");
  if (text.length > MAX_OUTPUT_CHARS) text = `… (earlier output cut)\n${text.slice(-MAX_OUTPUT_CHARS)}`;
  return text;
}
