/**
 * The page: asks for a token until one is accepted, then opens the fleet store and shows one view per
 * path. The overview (`/`) is nodes, alerts and running tasks together.
 */
import { memo } from "preact/compat";
import { useEffect, useReducer, useState } from "preact/hooks";
import { FleetStore } from "./fleet-store.js";
import { link, usePath } from "./router.js";
import { coordinatorUrl, forgetToken, type Identity, signIn, storedToken } from "./session.js";
import { DlqView } from "./views/dlq.js";
import { AlertsView, BroadcastsView, EventsView } from "./views/events.js";
import { NodesView } from "./views/nodes.js";
import { ProjectPage, ProjectsView } from "./views/projects.js";
import { QueuesView } from "./views/queues.js";
import { TaskPage } from "./views/task-page.js";
import { TasksView, TaskTable } from "./views/tasks.js";

export function App() {
  const [identity, setIdentity] = useState<Identity | undefined>(undefined);
  const [checking, setChecking] = useState(storedToken() !== undefined);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const attempt = (token: string) => {
    setChecking(true);
    signIn(token)
      .then((found) => {
        setFailure(undefined);
        setIdentity(found);
      })
      .catch((error: Error) => {
        forgetToken();
        setFailure(error.message);
      })
      .finally(() => setChecking(false));
  };
  useEffect(() => {
    const token = storedToken();
    if (token !== undefined) attempt(token);
  }, []);
  if (identity) {
    return (
      <Dashboard
        identity={identity}
        onSignOut={() => {
          forgetToken();
          setIdentity(undefined);
        }}
      />
    );
  }
  return <TokenForm checking={checking} failure={failure} onToken={attempt} />;
}

function TokenForm({
  checking,
  failure,
  onToken,
}: {
  checking: boolean;
  failure: string | undefined;
  onToken: (token: string) => void;
}) {
  const [token, setToken] = useState("");
  return (
    <main class="signin">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (token.trim() !== "") onToken(token.trim());
        }}
      >
        <h1>Flotilla</h1>
        <label for="token">Token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          placeholder="the fleet token, or a read token"
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
        />
        <button type="submit" disabled={checking}>
          {checking ? "Checking…" : "Open the dashboard"}
        </button>
        {failure ? <p class="error">{failure}</p> : null}
        <p class="muted">Kept for this tab only (session storage).</p>
      </form>
    </main>
  );
}

const SECTIONS: [string, string][] = [
  ["/", "Overview"],
  ["/nodes", "Nodes"],
  ["/queues", "Queues"],
  ["/tasks", "Tasks"],
  ["/projects", "Projects"],
  ["/dlq", "Dead letters"],
  ["/events", "Events"],
  ["/broadcasts", "Broadcasts"],
  ["/alerts", "Alerts"],
];

function Dashboard({ identity, onSignOut }: { identity: Identity; onSignOut: () => void }) {
  const [store] = useState(() => new FleetStore(identity));
  const [, rerender] = useReducer((count: number, _change: undefined) => count + 1, 0);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const path = usePath();
  useEffect(() => {
    const unsubscribe = store.batch.subscribe(() => rerender(undefined));
    store.start(coordinatorUrl()).catch((error: Error) => setFailure(error.message));
    return () => {
      unsubscribe();
      store.stop();
    };
  }, [store]);
  const taskId = /^\/tasks\/(.+)$/.exec(path)?.[1];
  const projectId = /^\/projects\/(.+)$/.exec(path)?.[1];
  const firing = store.alerts.size;
  return (
    <div class="layout">
      <nav>
        <strong class="brand">Flotilla</strong>
        {SECTIONS.map(([target, label]) => (
          <a
            key={target}
            {...link(target)}
            class={path === target || (target !== "/" && path.startsWith(`${target}/`)) ? "current" : ""}
          >
            {label}
            {target === "/alerts" && firing > 0 ? <span class="pill dead">{firing}</span> : null}
          </a>
        ))}
        <span class="who" data-scope={identity.scope}>
          <span
            class={store.client?.connected ? "dot live" : "dot"}
            title={store.connected ? "live" : "offline"}
          />
          {identity.name} ({identity.scope})
          <button type="button" class="link" onClick={onSignOut}>
            sign out
          </button>
        </span>
      </nav>
      <main>
        {failure ? <p class="error">{failure}</p> : null}
        {!store.client ? (
          <p class="muted">connecting…</p>
        ) : taskId ? (
          <TaskPage store={store} id={decodeURIComponent(taskId)} />
        ) : projectId ? (
          <ProjectPage store={store} id={decodeURIComponent(projectId)} />
        ) : path === "/projects" ? (
          <ProjectsView store={store} />
        ) : path === "/nodes" ? (
          <NodesView store={store} />
        ) : path === "/queues" ? (
          <QueuesView store={store} />
        ) : path === "/tasks" ? (
          <TasksView store={store} />
        ) : path === "/dlq" ? (
          <DlqView store={store} />
        ) : path === "/events" ? (
          <EventsView store={store} />
        ) : path === "/broadcasts" ? (
          <BroadcastsView store={store} />
        ) : path === "/alerts" ? (
          <AlertsView store={store} />
        ) : (
          <Overview store={store} />
        )}
      </main>
    </div>
  );
}

/** Rows of the overview's lists: the tasks and events pages show more. */
const OVERVIEW_RUNNING = 50;
const OVERVIEW_EVENTS = 50;

/**
 * How often the overview's running tasks are drawn at most: under load most of them change between two
 * renders of the page, so drawing them at every render (5 a second) is mostly drawing rows that are
 * gone by the next one.
 */
const RUNNING_REDRAW_MS = 500;

function Overview({ store }: { store: FleetStore }) {
  return (
    <>
      {store.alerts.size > 0 ? <AlertsView store={store} /> : null}
      <NodesView store={store} />
      <RunningTasks store={store} />
      <EventsView store={store} limit={OVERVIEW_EVENTS} />
    </>
  );
}

/** The running tasks: skipped by the page's renders, drawn every {@link RUNNING_REDRAW_MS} if tasks changed. */
const RunningTasks = memo(function RunningTasks({ store }: { store: FleetStore }) {
  const [, setSeen] = useState(store.tasksVersion);
  useEffect(() => {
    const timer = setInterval(() => setSeen(store.tasksVersion), RUNNING_REDRAW_MS);
    return () => clearInterval(timer);
  }, [store]);
  const running = [...store.tasks.values()].filter((task) => task.state === "running");
  return (
    <section>
      <h2>
        Running <span class="muted">{running.length}</span>
      </h2>
      <TaskTable store={store} tasks={running.slice(0, OVERVIEW_RUNNING)} testId="running" />
    </section>
  );
});
