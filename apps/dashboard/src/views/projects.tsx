/**
 * Projects: the task lists agents share. `/projects` lists them with counts by status; `/projects/<id>`
 * shows one project's tasks by status with priority, dependencies (`after`), `needs`, and who holds
 * which claim until when. The coordinator pushes each project change to the page (`project.updated` fleet
 * events, the updates it publishes on `events:tasks:updates`), and each page reads again when one concerns
 * it; a slow read every {@link PROJECT_FALLBACK_MS} covers changes missed while the connection was down.
 */
import type { Project, ProjectSummary, ProjectTask, ProjectTaskStatus } from "@flotilla/protocol";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import type { FleetStore } from "../fleet-store.js";
import { clock, duration } from "../format.js";
import { link } from "../router.js";
import { abilities } from "../session.js";
import { ActionButton } from "./widgets.js";

/**
 * How often an open projects page reads again without being told of a change: events sent while the
 * socket was down are not replayed, so this bounds how long a missed change can stay unseen.
 */
export const PROJECT_FALLBACK_MS = 30_000;

const STATUSES: ProjectTaskStatus[] = ["not started", "in progress", "done"];

/**
 * Reads `load` now, again whenever `version` (a count of the pushed changes that concern the page)
 * changes, and every {@link PROJECT_FALLBACK_MS} while mounted; `refresh` reads at once. Reads do not
 * overlap: a change during a read brings one more read after it.
 */
function useFollowed<T>(load: () => Promise<T>, key: string, version: number) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const reading = useRef<{ busy: boolean; again: boolean }>({ busy: false, again: false });
  const refresh = useCallback(async (): Promise<void> => {
    const state = reading.current;
    if (state.busy) {
      state.again = true;
      return;
    }
    state.busy = true;
    try {
      const found = await load();
      setValue(found);
      setFailure(undefined);
    } catch (error) {
      setFailure((error as Error).message);
    } finally {
      state.busy = false;
    }
    if (state.again) {
      state.again = false;
      await refresh();
    }
  }, [key]);
  useEffect(() => {
    setValue(undefined);
    void refresh();
    const timer = setInterval(() => void refresh(), PROJECT_FALLBACK_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  const seenVersion = useRef(version);
  useEffect(() => {
    if (seenVersion.current === version) return;
    seenVersion.current = version;
    void refresh();
  }, [version, refresh]);
  return { value, failure, refresh };
}

/** Task counts per project and status, from one list of every project task. */
function countByProject(tasks: readonly ProjectTask[]): Map<string, Record<string, number>> {
  const counts = new Map<string, Record<string, number>>();
  for (const task of tasks) {
    const entry = counts.get(task.projectId) ?? {};
    entry[task.status] = (entry[task.status] ?? 0) + 1;
    if (task.approved) entry.approved = (entry.approved ?? 0) + 1;
    counts.set(task.projectId, entry);
  }
  return counts;
}

function summary(text: string, limit = 100): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > limit ? `${line.slice(0, limit - 1)}…` : line;
}

export function ProjectsView({ store }: { store: FleetStore }) {
  const client = store.client;
  const { value, failure } = useFollowed(
    async () => {
      if (!client) return undefined;
      const [projects, tasks] = await Promise.all([
        client.projects.list("all"),
        client.projects.listTasks({ state: "all" }),
      ]);
      return { projects, counts: countByProject(tasks) };
    },
    "projects",
    store.projectsVersion,
  );
  const projects: ProjectSummary[] = value?.projects ?? [];
  return (
    <section>
      <h2>
        Projects <span class="muted">{value ? projects.length : ""}</span>
      </h2>
      {failure ? <p class="error">{failure}</p> : null}
      {!value ? (
        <p class="muted">loading…</p>
      ) : projects.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table data-testid="projects">
          <thead>
            <tr>
              <th>project</th>
              <th>initial prompt</th>
              {STATUSES.map((status) => (
                <th key={status}>{status}</th>
              ))}
              <th>approved</th>
              <th>finalized</th>
            </tr>
          </thead>
          <tbody>
            {projects.map((project) => {
              const counts = value.counts.get(project.projectId) ?? {};
              return (
                <tr key={project.projectId} data-project={project.projectId}>
                  <td>
                    <a {...link(`/projects/${project.projectId}`)}>{project.projectId}</a>
                  </td>
                  <td title={project.initialPrompt}>{summary(project.initialPrompt)}</td>
                  {STATUSES.map((status) => (
                    <td key={status} class="number">
                      {counts[status] ?? 0}
                    </td>
                  ))}
                  <td class="number">
                    {project.approvedTasks}/{project.totalTasks}
                  </td>
                  <td>{project.completed ? "yes" : "no"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ProjectPage({ store, id }: { store: FleetStore; id: string }) {
  const client = store.client;
  const {
    value: project,
    failure,
    refresh,
  } = useFollowed(
    async () => (client ? await client.projects.read(id) : undefined),
    id,
    store.projectVersions.get(id) ?? 0,
  );
  const may = abilities(store.identity);
  if (!project) {
    return <section>{failure ? <p class="error">{failure}</p> : <p class="muted">loading {id}…</p>}</section>;
  }
  const finished = project.tasks.length > 0 && project.tasks.every((task) => task.approved);
  return (
    <section class="project-page" data-project={project.projectId}>
      <h2>
        {project.projectId}{" "}
        <span class="muted">
          {project.completed ? "finalized" : "open"}
          {project.autoApprove ? " · auto-approve" : ""}
        </span>
      </h2>
      {failure ? <p class="error">{failure}</p> : null}
      <p class="prompt">{project.initialPrompt}</p>
      {project.projectPlan && project.projectPlan !== project.initialPrompt ? (
        <p class="muted">{project.projectPlan}</p>
      ) : null}
      {may.cancel && client && finished && !project.completed ? (
        <ActionButton
          label="Finalize"
          run={() => client.projects.finalize(project.projectId)}
          after={refresh}
        />
      ) : null}
      {STATUSES.map((status) => (
        <ProjectTasks
          key={status}
          project={project}
          status={status}
          approve={
            may.admin && client
              ? (task) => client.projects.approveTask(project.projectId, task.id)
              : undefined
          }
          after={refresh}
        />
      ))}
    </section>
  );
}

function ProjectTasks({
  project,
  status,
  approve,
  after,
}: {
  project: Project;
  status: ProjectTaskStatus;
  approve: ((task: ProjectTask) => Promise<unknown>) | undefined;
  after: () => unknown;
}) {
  const tasks = project.tasks.filter((task) => task.status === status);
  const now = Date.now();
  return (
    <>
      <h3>
        {status} <span class="muted">{tasks.length}</span>
      </h3>
      {tasks.length === 0 ? null : (
        <table data-testid={`project-${status.replace(" ", "-")}`}>
          <thead>
            <tr>
              <th>task</th>
              <th>title</th>
              <th>priority</th>
              <th>after</th>
              <th>needs</th>
              <th>assignee</th>
              <th>claim until</th>
              <th>approved</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((task) => (
              <tr key={task.id} data-task={task.id} data-status={task.status}>
                <td>
                  {task.fleetTaskId ? <a {...link(`/tasks/${task.fleetTaskId}`)}>{task.id}</a> : task.id}
                </td>
                <td title={task.completedDetails || task.description}>{task.title}</td>
                <td>{task.priority}</td>
                <td>{task.after.join(", ") || "—"}</td>
                <td>{task.needs.join(", ") || "—"}</td>
                <td data-field="assignee">{task.assignee ?? "—"}</td>
                <td>
                  {task.leaseExpiresAt === undefined
                    ? "—"
                    : `${clock(task.leaseExpiresAt)} (in ${duration(task.leaseExpiresAt - now)})`}
                </td>
                <td>
                  {task.approved ? (
                    "yes"
                  ) : approve && task.status === "done" ? (
                    <ActionButton label="Approve" run={() => approve(task)} after={after} />
                  ) : (
                    "no"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
