import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeCoordinator, type FakeCoordinatorOptions, localRunner } from "@flotilla/client/testing";
import { waitFor } from "@flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";

const cliRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fleet(options: FakeCoordinatorOptions = {}): Promise<FakeCoordinator> {
  const fake = await FakeCoordinator.start(options);
  cleanups.push(() => fake.close());
  return fake;
}

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Runs the real `flotilla` binary from source, as a user's shell would. */
function flotilla(
  fake: FakeCoordinator,
  args: string[],
  stdio?: [number, number],
  env: Record<string, string> = {},
): Cli {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", "src/main.ts", ...args], {
    cwd: cliRoot,
    env: {
      ...process.env,
      FLOTILLA_URL: fake.url,
      XDG_CONFIG_HOME: join(tmpdir(), "flotilla-no-config"),
      ...env,
    },
    stdio: stdio ? ["ignore", stdio[0], stdio[1]] : ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (data: Buffer) => {
    out += data.toString();
  });
  child.stderr?.on("data", (data: Buffer) => {
    err += data.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

// Each test starts the binary from source (tsx compiles it on the way): a few seconds when the other suites
// share the two cores, and more at their busiest.
describe("the flotilla binary", { timeout: 60_000 }, () => {
  it("writes remote stdout and stderr in sequence order, all of it, and exits with the remote code", async () => {
    const lines: { stream: "stdout" | "stderr"; data: string }[] = [];
    for (let i = 0; i < 400; i++) {
      lines.push({ stream: i % 3 === 0 ? "stderr" : "stdout", data: `line ${i} ${"x".repeat(i % 50)}\n` });
    }
    const fake = await fleet({
      runner: (task, coordinator) => {
        coordinator.setState(task.id, "running", { node: "box" });
        for (const line of lines) coordinator.output(task.id, line.stream, line.data);
        coordinator.setState(task.id, "failed", { exitCode: 7, signal: null });
      },
    });
    // Both streams into one file: the file shows the order the CLI wrote them in.
    const dir = mkdtempSync(join(tmpdir(), "flotilla-cli-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "combined.txt");
    const fd = openSync(file, "w");
    const cli = flotilla(fake, ["run", "--", "./build.sh"], [fd, fd]);
    const code = await cli.exit;
    closeSync(fd);
    expect(code).toBe(7);
    expect(readFileSync(file, "utf8")).toBe(lines.map((line) => line.data).join(""));
  });

  it("cancels the remote process group on SIGINT and exits 130", async () => {
    const fake = await fleet({ runner: localRunner });
    const cli = flotilla(fake, ["run", "--", "sh", "-c", "echo started; sleep 30 & sleep 30; wait"]);
    await waitFor(() => cli.stdout().includes("started"), { what: "remote start", timeoutMs: 30_000 });
    cli.child.kill("SIGINT");
    expect(await cli.exit).toBe(130);
    expect(fake.requests("task.cancel")).toHaveLength(1);
    // The double's runner marks the task cancelled only once the whole group has exited on SIGTERM.
    await waitFor(() => fake.tasks()[0]?.state === "cancelled", { what: "remote group stopped" });
    expect(cli.stderr()).toContain("cancelling t-1");
  });

  it("follows logs across a coordinator restart with nothing lost or repeated", async () => {
    const fake = await fleet();
    const task = fake.addTask({ kind: "exec", argv: ["long"] }, "running");
    fake.output(task.id, "stdout", "before\n");
    const cli = flotilla(fake, ["logs", "-f", task.id]);
    // The CLI starts from its sources through tsx: on a loaded machine that alone can take seconds.
    await waitFor(() => cli.stdout().includes("before"), { what: "first output", timeoutMs: 30_000 });
    await fake.stop();
    fake.output(task.id, "stderr", "while-down\n");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fake.listen();
    await waitFor(() => cli.stderr().includes("while-down"), { what: "replayed output", timeoutMs: 15_000 });
    fake.output(task.id, "stdout", "after\n");
    fake.setState(task.id, "succeeded", { exitCode: 0 });
    expect(await cli.exit).toBe(0);
    expect(cli.stdout()).toBe("before\nafter\n");
    expect(cli.stderr()).toBe("while-down\n");
  });

  it("exits 3 with advice when the coordinator is not there", async () => {
    const fake = await FakeCoordinator.start();
    await fake.close();
    const cli = flotilla(fake, ["ps"], undefined, { FLOTILLA_CONNECT_TIMEOUT: "500ms" });
    expect(await cli.exit).toBe(3);
    expect(cli.stderr()).toMatch(/^flotilla: cannot reach the coordinator at .* — check that it is running/);
    expect(cli.stderr()).not.toContain("    at ");
  });
});
