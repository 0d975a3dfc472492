import { FakeCoordinator, type FakeCoordinatorOptions, localRunner } from "@flotilla/client/testing";
import { waitFor } from "@flotilla/testing";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "./commands/index.js";
import { EXIT } from "./exit-codes.js";
import { cleanups, fleet, harness } from "./test-harness.js";

describe("flotilla help and usage", () => {
  it("has --help with an example for every command", async () => {
    for (const command of COMMANDS) {
      const cli = harness();
      expect(await cli.run(command.name, "--help")).toBe(EXIT.OK);
      expect(cli.stdout.text).toContain(`Usage: flotilla ${command.name}`);
      expect(cli.stdout.text).toMatch(/Examples?:\n {2}flotilla /);
    }
    const cli = harness();
    expect(await cli.run("--help")).toBe(EXIT.OK);
    expect(cli.stdout.text).toContain("Exit codes:");
  });

  it("explains usage mistakes in one line without a stack", async () => {
    const cases: [string[], RegExp][] = [
      [["launch"], /^flotilla: unknown command "launch" — run `flotilla --help`/],
      [["ps", "--colour"], /^flotilla: Unknown option '--colour' — see `flotilla ps --help`/],
      [["run", "ls", "-l"], /put `--` before the remote command/],
      [["status"], /^flotilla: usage: flotilla status/],
      [
        ["run", "--timeout", "soon", "--", "true"],
        /--timeout "soon" is not a duration — write it like 500ms/,
      ],
      [["run", "--priority", "urgent", "--", "true"], /use critical, high, normal, low/],
      [["dlq", "purge"], /one task id or --all/],
    ];
    for (const [argv, pattern] of cases) {
      const cli = harness({ FLOTILLA_URL: "ws://127.0.0.1:1" });
      expect(await cli.run(...argv), argv.join(" ")).toBe(EXIT.USAGE);
      expect(cli.stderr.text).toMatch(pattern);
      expect(cli.stderr.text.split("\n")).toHaveLength(2);
    }
  });

  it("shows where each setting came from", async () => {
    const cli = harness(
      { FLOTILLA_TOKEN: "secret-token-123" },
      { files: { "/home/test/.config/flotilla/config.json": '{"url":"ws://studio.local:7420"}' } },
    );
    expect(await cli.run("config")).toBe(EXIT.OK);
    expect(cli.stdout.text).toMatch(
      /url\s+ws:\/\/studio.local:7420\s+config\s+\/home\/test\/.config\/flotilla/,
    );
    expect(cli.stdout.text).toMatch(/token\s+secr…23\s+env\s+FLOTILLA_TOKEN/);
    expect(cli.stdout.text).not.toContain("secret-token-123");
    const flagged = harness();
    await flagged.run("--url", "ws://x:1", "config", "--json");
    expect(JSON.parse(flagged.stdout.text).settings[0]).toMatchObject({ value: "ws://x:1", source: "flag" });
  });

  it("reads the CA named by --ca before dialling, and says which file it could not read", async () => {
    const cli = harness({ FLOTILLA_URL: "wss://studio.local:7420" });
    expect(await cli.run("--ca", "/nonexistent/ca.crt", "nodes")).toBe(EXIT.USAGE);
    expect(cli.stderr.text).toMatch(
      /^flotilla: cannot read the CA file \/nonexistent\/ca.crt \(--ca or FLOTILLA_CA\)/,
    );
    const shown = harness({ FLOTILLA_CA: "/etc/flotilla/ca.crt" });
    expect(await shown.run("config")).toBe(EXIT.OK);
    expect(shown.stdout.text).toMatch(/ca\s+\/etc\/flotilla\/ca.crt\s+env\s+FLOTILLA_CA/);
  });
});

describe("flotilla against a coordinator double", () => {
  it("takes a comma-separated --url and uses the first coordinator that answers", async () => {
    const { fake } = await fleet({ runner: localRunner });
    const gone = await FakeCoordinator.start();
    await gone.close();
    const cli = harness();
    expect(await cli.run("--url", `${gone.url}, ${fake.url}`, "run", "--", "echo", "hi")).toBe(0);
    expect(cli.stdout.text).toBe("hi\n");
    expect(fake.requests("task.submit")).toHaveLength(1);
  });

  it("runs a command, passing its output through and exiting with its code", async () => {
    const { fake, cli } = await fleet({ runner: localRunner });
    const code = await cli.run("run", "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 7");
    expect(code).toBe(7);
    expect(cli.stdout.text).toBe("to-out\n");
    expect(cli.stderr.text).toBe("to-err\n");
    // The exit code comes from the outcome pushed for the submit (task.done), not from a lookup.
    expect(fake.requests("task.submit")[0]?.wait).toBe(true);
    expect(fake.requests("task.get")).toEqual([]);
  });

  it("asks for no pushed outcome when it does not stay for the result", async () => {
    const { fake, cli } = await fleet();
    expect(await cli.run("submit", "--json", "--", "true")).toBe(EXIT.OK);
    expect(JSON.parse(cli.stdout.text)).toEqual({ taskId: "t-1", duplicate: false });
    expect(await cli.run("run", "-d", "--", "true")).toBe(EXIT.OK);
    expect(fake.requests("task.submit").map((message) => message.wait)).toEqual([undefined, undefined]);
  });

  it("turns flags into the task spec", async () => {
    const { fake, cli } = await fleet();
    const code = await cli.run(
      ...["run", "--detach", "--needs", "docker", "--needs", "os=linux", "--needs", "cores=8"],
      ...["--priority", "high", "--timeout", "10m", "--deadline", "1h", "--node", "box", "--retries", "2"],
      ...["--cwd", "/src", "--env", "A=1", "--env", "B=x=y", "--", "make", "-j8"],
    );
    expect(code).toBe(EXIT.OK);
    const spec = fake.requests("task.submit")[0]?.spec;
    expect(spec).toMatchObject({
      kind: "exec",
      argv: ["make", "-j8"],
      needs: { docker: true, os: "linux", cores: 8 },
      priority: "high",
      timeoutMs: 600_000,
      node: "box",
      retry: { maxAttempts: 3 },
      cwd: "/src",
      env: { A: "1", B: "x=y" },
    });
    expect(spec?.deadlineAt).toBeGreaterThan(Date.now() + 3_500_000);
    expect(cli.stdout.text).toMatch(/^t-1\n$/);
  });

  it("sends --secret-env as secretEnv, K alone from this shell, and refuses bad forms without echoing values", async () => {
    const { fake } = await fleet();
    const cli = harness({ FLOTILLA_URL: fake.url, DB_PASS: "from-shell" });
    const code = await cli.run(
      ...[
        "submit",
        "--env",
        "A=1",
        "--secret-env",
        "API_TOKEN=x=y",
        "--secret-env",
        "DB_PASS",
        "--",
        "deploy",
      ],
    );
    expect(code).toBe(EXIT.OK);
    expect(fake.requests("task.submit")[0]?.spec).toMatchObject({
      env: { A: "1" },
      secretEnv: { API_TOKEN: "x=y", DB_PASS: "from-shell" },
    });
    const cases: [string[], RegExp][] = [
      [["--secret-env", "=hidden-value"], /--secret-env has an entry without a name/],
      [["--secret-env", "K="], /--secret-env K has an empty value/],
      [["--secret-env", "UNSET_HERE"], /--secret-env UNSET_HERE: UNSET_HERE is not set here/],
      [["--env", "K=1", "--secret-env", "K=hidden-value"], /K is given by both --env and --secret-env/],
    ];
    for (const [flags, pattern] of cases) {
      const bad = harness({ FLOTILLA_URL: fake.url });
      expect(await bad.run("submit", ...flags, "--", "true"), flags.join(" ")).toBe(EXIT.USAGE);
      expect(bad.stderr.text).toMatch(pattern);
      expect(bad.stderr.text).not.toContain("hidden-value");
    }
  });

  it("maps how a task ended to the exit code", async () => {
    const { fake, cli } = await fleet({
      runner: (task, coordinator) => {
        const argv = task.spec.kind === "exec" ? (task.spec.argv ?? []) : [];
        if (argv[0] === "signal")
          coordinator.setState(task.id, "failed", { exitCode: null, signal: "SIGKILL" });
        if (argv[0] === "timeout")
          coordinator.setState(task.id, "timed_out", { exitCode: null, signal: "SIGKILL" });
        if (argv[0] === "nonode") {
          coordinator.setState(task.id, "failed", {
            exitCode: null,
            signal: null,
            error: { code: "E_NODE_UNAVAILABLE", message: "no healthy node with gpu=true" },
          });
        }
      },
    });
    expect(await cli.run("run", "--", "signal")).toBe(137);
    expect(await cli.run("run", "--", "timeout")).toBe(EXIT.TIMED_OUT);
    expect(cli.stderr.text).toContain("timed out");
    expect(await cli.run("run", "--", "nonode")).toBe(EXIT.NOT_RUN);
    expect(cli.stderr.text).toContain("no healthy node with gpu=true");
    expect(fake.tasks()).toHaveLength(3);
  });

  it("shows why a task waits on a terminal, and nothing extra when piped", async () => {
    let release: (() => void) | undefined;
    const runner: FakeCoordinatorOptions["runner"] = (task, fake) => {
      fake.setState(task.id, "waiting", { reason: "no healthy node with docker=true" });
      release = () => {
        fake.setState(task.id, "running", { node: "box" });
        fake.output(task.id, "stdout", "built\n");
        fake.setState(task.id, "succeeded", { exitCode: 0 });
      };
    };
    const fake = await FakeCoordinator.start({ runner });
    cleanups.push(() => fake.close());
    const tty = harness({ FLOTILLA_URL: fake.url }, { tty: true });
    const running = tty.run("run", "--needs", "docker", "--", "docker", "build", ".");
    await waitFor(() => tty.stderr.text.includes("waiting: no healthy node with docker=true"), {
      what: "progress line",
    });
    release?.();
    expect(await running).toBe(0);
    expect(tty.stdout.text).toBe("built\n");
    expect(tty.stderr.text.endsWith("\r\x1b[2K")).toBe(true);

    const piped = harness({ FLOTILLA_URL: fake.url });
    const pipedRun = piped.run("run", "--", "docker", "build", ".");
    await waitFor(() => release !== undefined && fake.tasks().length === 2, { what: "second task" });
    release?.();
    expect(await pipedRun).toBe(0);
    expect(piped.stderr.text).toBe("");
  });

  it("cancels the remote task on Ctrl-C and exits 130", async () => {
    const { fake, cli } = await fleet({ runner: localRunner });
    const running = cli.run("run", "--", "sh", "-c", "echo started; sleep 30");
    await waitFor(() => cli.stdout.text.includes("started"), { what: "remote start" });
    cli.interrupt();
    expect(await running).toBe(EXIT.INTERRUPTED);
    expect(fake.requests("task.cancel")).toHaveLength(1);
    expect(fake.tasks()[0]?.state).toBe("cancelled");
    expect(cli.stderr.text).toContain("cancelling t-1");
  });

  it("lists tasks and nodes as tables and JSON", async () => {
    const { fake, cli } = await fleet();
    fake.addTask({ kind: "exec", argv: ["npm", "test"] }, "running");
    fake.addTask({ kind: "exec", shell: "make all" }, "succeeded");
    fake.nodes = [
      {
        id: "studio",
        host: "studio.local",
        os: "darwin",
        arch: "arm64",
        slotsTotal: 8,
        slotsUsed: 3,
        load1: 2.5,
        status: "busy",
        health: "healthy",
        breaker: "closed",
        draining: true,
        labels: { room: "office" },
        capabilities: ["docker"],
        queued: 1,
      },
    ];
    expect(await cli.run("ps")).toBe(0);
    expect(cli.stdout.text).toMatch(
      /^ID\s+STATE\s+NODE\s+AGE\s+EXIT\s+COMMAND\nt-1\s+running\s+fake-node\s+\S+\s+npm test\n/,
    );
    expect(cli.stdout.text).toContain("make all");
    cli.stdout.text = "";
    expect(await cli.run("ps", "--state", "running", "--json")).toBe(0);
    expect(JSON.parse(cli.stdout.text)).toHaveLength(1);
    cli.stdout.text = "";
    expect(await cli.run("nodes")).toBe(0);
    expect(cli.stdout.text).toMatch(
      /studio\s+studio.local\s+darwin\/arm64\s+3\/8\s+1\s+2.50\s+healthy,draining\s+closed\s+room=office/,
    );
    cli.stdout.text = "";
    expect(await cli.run("nodes", "--json")).toBe(0);
    expect(JSON.parse(cli.stdout.text)[0].id).toBe("studio");
    cli.stdout.text = "";
    expect(await cli.run("status", "t-1")).toBe(0);
    expect(cli.stdout.text).toMatch(/state\s+running/);
    expect(await cli.run("undrain", "studio")).toBe(0);
    expect(fake.nodes[0]?.draining).toBe(false);
  });

  it("prints logs so far, and follows with -f", async () => {
    const { fake, cli } = await fleet();
    const task = fake.addTask({ kind: "exec", argv: ["x"] }, "running");
    fake.output(task.id, "stdout", "one\n");
    fake.output(task.id, "stderr", "two\n");
    expect(await cli.run("logs", task.id)).toBe(0);
    expect(cli.stdout.text).toBe("one\n");
    expect(cli.stderr.text).toBe("two\n");
    cli.stdout.text = "";
    const following = cli.run("logs", "-f", "--from-seq", "1", task.id);
    await waitFor(() => fake.requests("task.watch").length === 2, { what: "watch" });
    fake.output(task.id, "stdout", "three\n");
    fake.setState(task.id, "succeeded", { exitCode: 0 });
    expect(await following).toBe(0);
    expect(cli.stdout.text).toBe("three\n");
  });

  it("handles the dead-letter queue, cancel and broadcast", async () => {
    const { fake, cli } = await fleet();
    const task = fake.addTask({ kind: "exec", argv: ["flaky"] }, "dead_lettered");
    fake.dlq = [{ taskId: task.id, attempts: 3, reason: "node studio died", at: Date.now() }];
    expect(await cli.run("dlq", "ls")).toBe(0);
    expect(cli.stdout.text).toMatch(/t-1\s+3\s+\S+\s+node studio died/);
    expect(await cli.run("dlq", "retry", task.id)).toBe(0);
    expect(fake.task(task.id)?.state).toBe("queued");
    expect(await cli.run("dlq", "purge", "--all")).toBe(0);
    expect(await cli.run("cancel", task.id)).toBe(0);
    expect(await cli.run("cancel", task.id)).toBe(EXIT.FAILED);
    expect(cli.stderr.text).toContain("already finished — check its state with `flotilla status`");
    expect(await cli.run("broadcast", "--data", '{"sha":"abc"}', "deploying")).toBe(0);
    expect(fake.requests("broadcast")[0]).toMatchObject({ message: "deploying", data: { sha: "abc" } });
  });

  it("streams fleet events with events -f until interrupted", async () => {
    const { fake, cli } = await fleet();
    const task = fake.addTask({ kind: "exec", argv: ["x"] }, "queued");
    const following = cli.run("events", "-f");
    await waitFor(() => fake.requests("events.watch").length === 1, { what: "events.watch" });
    fake.setState(task.id, "running", { node: "box" });
    await waitFor(() => cli.stdout.text.includes("queued -> running on box"), { what: "event line" });
    fake.pushFleetEvent("broadcast", {
      message: "node.drained",
      data: { node: "box", type: "node.drained" },
    });
    await waitFor(() => cli.stdout.text.includes("node.drained box"), { what: "relayed fleet event" });
    cli.interrupt();
    expect(await following).toBe(0);
  });

  it("says what to do when the coordinator is missing, the token wrong or the task unknown", async () => {
    const gone = await FakeCoordinator.start();
    const url = gone.url;
    await gone.close();
    const unreachable = harness({ FLOTILLA_URL: url, FLOTILLA_CONNECT_TIMEOUT: "300ms" });
    expect(await unreachable.run("nodes")).toBe(EXIT.UNREACHABLE);
    expect(unreachable.stderr.text).toMatch(
      /^flotilla: cannot reach the coordinator at ws:\/\/127.0.0.1:\d+/,
    );
    expect(unreachable.stderr.text).toContain("--url or FLOTILLA_URL");

    const listed = harness({
      FLOTILLA_URL: `${url},${url.replace(/\d+$/, "1")}`,
      FLOTILLA_CONNECT_TIMEOUT: "300ms",
    });
    expect(await listed.run("nodes")).toBe(EXIT.UNREACHABLE);
    expect(listed.stderr.text).toMatch(
      /^flotilla: cannot reach an active coordinator at any of ws:\/\/127.0.0.1:\d+\/v1\/client \(connection refused\), ws:\/\/127.0.0.1:1\/v1\/client \(connection refused\)/,
    );

    const locked = await FakeCoordinator.start({ token: "right" });
    cleanups.push(() => locked.close());
    const wrong = harness({ FLOTILLA_URL: locked.url, FLOTILLA_TOKEN: "wrong" });
    expect(await wrong.run("nodes")).toBe(EXIT.UNAUTHORIZED);
    expect(wrong.stderr.text).toContain("token rejected by coordinator");
    const right = harness({ FLOTILLA_URL: locked.url, FLOTILLA_TOKEN: "right" });
    expect(await right.run("status", "t-9")).toBe(EXIT.NOT_FOUND);
    expect(right.stderr.text).toBe(
      "flotilla: no task t-9 — check the id with `flotilla ps` or `flotilla nodes`\n",
    );
  });
});
