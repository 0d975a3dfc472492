import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ExecOptions, type ExecSpec, prepareEnv, startExec } from "./exec.js";
import type { OutputChunk } from "./output.js";
import { HelperSpawner, inlineSpawner, nativeHelperPath, type Spawner, WorkerSpawner } from "./spawner.js";

/** Whether this checkout built the native helper; CI requires it (FLOTILLA_NATIVE=required). */
const nativeBuilt = nativeHelperPath() !== undefined;
const nativeSpawner = new HelperSpawner();
const nodeSpawner = new HelperSpawner({ nativeHelper: false });
const workerSpawner = new WorkerSpawner();
const spawners: Array<[string, Spawner]> = [
  ...(nativeBuilt ? [["native helper", nativeSpawner] as [string, Spawner]] : []),
  ["node helper", nodeSpawner],
  ["worker thread", workerSpawner],
  ["inline", inlineSpawner],
];
let spawner: Spawner = nodeSpawner;

async function run(spec: ExecSpec, options: ExecOptions = {}, onChunk?: (chunk: OutputChunk) => void) {
  const chunks: OutputChunk[] = [];
  const handle = startExec(spec, {
    spawner,
    ...options,
    onOutput: (chunk) => {
      chunks.push(chunk);
      onChunk?.(chunk);
    },
  });
  const result = await handle.done;
  const text = (stream: string) =>
    chunks
      .filter((c) => c.stream === stream)
      .map((c) => c.data)
      .join("");
  return { result, chunks, stdout: text("stdout"), stderr: text("stderr") };
}

/** True while `pid` runs; a zombie (killed, not yet reaped by an init that may never reap) counts as dead. */
async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

/**
 * Whether `pid` is still alive after up to `ms`. A signalled process dies only once the kernel runs it
 * again, which on a busy machine can be a few scheduler ticks after `kill` returned: poll, don't sample.
 */
async function aliveAfter(pid: number, ms = 2_000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (await processAlive(pid)) {
    if (performance.now() >= deadline) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Polls `condition` until it holds; throws after `ms`. */
async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let gates = 0;
/**
 * A file the test creates when it is ready, and the shell loop that waits for it: orders a step of a task
 * after something the test saw, where a fixed sleep would only make it likely.
 */
function gate(): { wait: string; open: () => void } {
  const file = join(dir, `gate-${++gates}`);
  return { wait: `while [ ! -e '${file}' ]; do sleep 0.01; done`, open: () => writeFileSync(file, "") };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "flotilla-exec-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await workerSpawner.close();
  await nativeSpawner.close();
  await nodeSpawner.close();
});

describe.each(spawners)("startExec (%s spawner)", (_name, current) => {
  beforeEach(() => {
    spawner = current;
  });

  it("delivers all output in order with one seq across both streams", async () => {
    const { result, chunks, stdout } = await run({ argv: ["seq", "1", "100000"] });
    expect(result.outcome).toBe("succeeded");
    expect(result.exitCode).toBe(0);
    const expected = `${Array.from({ length: 100_000 }, (_, i) => i + 1).join("\n")}\n`;
    expect(stdout).toBe(expected);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    // Batched: far fewer chunks than lines, none above the split size.
    expect(chunks.length).toBeLessThan(100);
    for (const chunk of chunks) expect(chunk.data.length).toBeLessThanOrEqual(64 * 1024);
  });

  it("keeps the interleaving of stdout and stderr", async () => {
    // Each write waits until the one before it came through: with both streams holding data at once the
    // order would be the reader's to pick, which a pause between the writes only makes unlikely.
    const [afterOut, afterErr] = [gate(), gate()];
    const { chunks, stdout, stderr } = await run(
      { shell: `echo out1; ${afterOut.wait}; echo err1 >&2; ${afterErr.wait}; echo out2` },
      {},
      (chunk) => {
        if (chunk.data.includes("out1")) afterOut.open();
        if (chunk.data.includes("err1")) afterErr.open();
      },
    );
    expect(stdout).toBe("out1\nout2\n");
    expect(stderr).toBe("err1\n");
    expect(chunks.map((c) => c.stream)).toEqual(["stdout", "stderr", "stdout"]);
    expect(chunks.map((c) => c.seq)).toEqual([0, 1, 2]);
  });

  it("reports exit codes, cwd and env", async () => {
    const failed = await run({ shell: "exit 3" });
    expect(failed.result).toMatchObject({ outcome: "failed", exitCode: 3, signal: null });
    const env = await run({ shell: 'echo "$FLOTILLA_X $(pwd)"', cwd: dir, env: { FLOTILLA_X: "hello" } });
    expect(env.stdout.trim()).toBe(`hello ${dir}`);
  });

  it("looks a program up on the task's PATH, and runs a relative one from the task's cwd", async () => {
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "flotilla-hello"), "#!/bin/sh\necho hello from $0\n", { mode: 0o755 });
    await writeFile(join(bin, "flotilla-plain"), "not a program", { mode: 0o644 });
    const onPath = await run({
      argv: ["flotilla-hello"],
      env: { PATH: `/nonexistent:${bin}:/usr/bin:/bin` },
    });
    expect(onPath.stdout).toBe(`hello from ${join(bin, "flotilla-hello")}\n`);
    const relative = await run({ argv: ["./bin/flotilla-hello"], cwd: dir });
    expect(relative.stdout).toBe("hello from ./bin/flotilla-hello\n");
    const relativeOnPath = await run({ argv: ["flotilla-hello"], cwd: dir, env: { PATH: "bin" } });
    expect(relativeOnPath.stdout).toBe("hello from bin/flotilla-hello\n");
    await writeFile(join(bin, "flotilla-no-shebang"), 'echo "no #! line, args: $*"\n', { mode: 0o755 });
    const script = await run({ argv: ["flotilla-no-shebang", "a", "b"], env: { PATH: bin } });
    expect(script.stdout).toBe("no #! line, args: a b\n");
    const notRunnable = await run({ argv: ["flotilla-plain"], env: { PATH: bin } });
    expect(notRunnable.result.error?.message).toContain("EACCES");
  });

  it.runIf(process.platform === "linux")("starts processes with default signal handling", async () => {
    const { stdout } = await run({ argv: ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"] });
    const [blocked, ignored] = stdout.split("\n").map((line) => BigInt(`0x${line.split("\t")[1] ?? "0"}`));
    expect(blocked).toBe(0n);
    // Signals 1-31; glibc's posix_spawn leaves its own two (32 and 33) ignored, which glibc and musl
    // programs take over when they use them.
    expect((ignored ?? 0n) & 0x7fffffffn).toBe(0n);
  });

  it("reports a process killed by a signal", async () => {
    const { result } = await run({ shell: "kill -9 $$" });
    expect(result).toMatchObject({ outcome: "failed", exitCode: null, signal: "SIGKILL" });
  });

  it("kills the whole process group on timeout, grandchildren included", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const started = performance.now();
    const { result } = await run(
      { shell: `sleep 30 & echo $! > ${pidFile}; wait` },
      // Time enough for the shell to write the pid file first, also when the machine is busy.
      { timeoutMs: 1000, killGraceMs: 1000 },
    );
    expect(result.outcome).toBe("timed_out");
    expect(result.signal).toBe("SIGTERM");
    expect(performance.now() - started).toBeLessThan(5000);
    const grandchild = Number((await readFile(pidFile, "utf8")).trim());
    // Dying takes a moment after the pipes close (they close early in exit).
    expect(await aliveAfter(grandchild)).toBe(false);
  });

  it("escalates to SIGKILL when SIGTERM is ignored", async () => {
    let output = "";
    const handle = startExec(
      { shell: "trap '' TERM; echo ready; sleep 30" },
      { spawner, killGraceMs: 200, onOutput: (chunk) => (output += chunk.data) },
    );
    // The shell ignores SIGTERM only once it has run the trap: a cancel before that kills it with SIGTERM.
    await until(() => output.includes("ready"), "the trap to be set");
    handle.cancel();
    const result = await handle.done;
    expect(result).toMatchObject({ outcome: "cancelled", signal: "SIGKILL" });
  });

  it("cancels a run", async () => {
    const handle = startExec({ argv: ["sleep", "30"] }, { spawner });
    setTimeout(() => handle.cancel(), 100);
    const result = await handle.done;
    expect(result).toMatchObject({ outcome: "cancelled", exitCode: null, signal: "SIGTERM" });
  });

  it("does not wait for background processes left behind by a finished main process", async () => {
    const started = performance.now();
    const { result, stdout } = await run({ shell: "sleep 30 & echo done" });
    expect(result.outcome).toBe("succeeded");
    expect(stdout).toBe("done\n");
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("masks secret values, also when split across two writes", async () => {
    const secret = "s3cr3t-value-123456";
    const script = join(dir, "split.sh");
    // printf in two parts with a pause: the two halves arrive in separate reads.
    await writeFile(
      script,
      `printf 'a s3cr3t-va'; sleep 0.2; printf 'lue-123456 b\\n'; echo "$API_TOKEN" >&2\n`,
    );
    const { stdout, stderr, chunks } = await run(
      { argv: ["/bin/sh", script] },
      { baseEnv: { PATH: process.env.PATH ?? "", DEPLOY_SECRET: secret } },
    );
    expect(stdout).toBe("a *** b\n");
    expect(chunks.some((c) => c.data.includes("s3cr3t"))).toBe(false);
    expect(stderr).toBe("\n");
    const fromTask = await run({ shell: 'echo "key=$API_TOKEN"', env: { API_TOKEN: "tok-abcdef" } });
    expect(fromTask.stdout).toBe("key=***\n");
  });

  it("runs over a prepared base env: the task's env on top, secrets of both and the extras masked", async () => {
    const preparedEnv = prepareEnv(
      { PATH: process.env.PATH ?? "", BASE: "base", DB_PASSWORD: "hunter2-pw" },
      ["agent-token-1"],
    );
    for (let i = 0; i < 2; i++) {
      const { stdout } = await run(
        {
          shell: 'echo "$BASE $TASK $DB_PASSWORD $API_KEY agent-token-1"',
          env: { TASK: `t${i}`, API_KEY: "key-98765" },
        },
        { preparedEnv },
      );
      expect(stdout).toBe(`base t${i} *** *** ***\n`);
    }
    const overridden = await run({ shell: 'echo "$BASE"', env: { BASE: "task" } }, { preparedEnv });
    expect(overridden.stdout).toBe("task\n");
    // An earlier run's env stays out of later runs.
    const plain = await run({ shell: 'echo "$BASE [$TASK]"' }, { preparedEnv });
    expect(plain.stdout).toBe("base []\n");
  });

  it("masks the values it is told to, whatever their variables are called, with or without a prepared env", async () => {
    const spec = {
      shell: 'echo "$PLAIN_NAME and $OTHER"',
      env: { PLAIN_NAME: "visible-unless-masked", OTHER: "shown" },
      maskedValues: ["visible-unless-masked"],
    };
    expect((await run(spec)).stdout).toBe("*** and shown\n");
    const preparedEnv = prepareEnv({ PATH: process.env.PATH ?? "" });
    expect((await run(spec, { preparedEnv })).stdout).toBe("*** and shown\n");
  });

  it("reports spawn errors as E_SPAWN", async () => {
    const missing = await run({ argv: ["/nonexistent/program"] });
    expect(missing.result.outcome).toBe("failed");
    expect(missing.result.error?.code).toBe("E_SPAWN");
    expect(missing.result.error?.message).toContain("no such program");

    const notExecutable = join(dir, "plain.txt");
    await writeFile(notExecutable, "x");
    const denied = await run({ argv: [notExecutable] });
    expect(denied.result.error).toMatchObject({ code: "E_SPAWN" });
    expect(denied.result.error?.message).toContain("EACCES");

    const nul = await run({ argv: ["echo", "a\0b"] });
    expect(nul.result.error?.code).toBe("E_SPAWN");

    const badCwd = await run({ argv: ["true"], cwd: join(dir, "nope") });
    expect(badCwd.result.error?.code).toBe("E_SPAWN");
    expect(badCwd.result.error?.message).toContain("does not exist");
  });

  it.runIf(process.platform === "linux")("samples usage of a longer run", async () => {
    const { result } = await run(
      { shell: "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done" },
      { usageSampleMs: 20 },
    );
    expect(result.usage).toBeDefined();
    expect(result.usage?.maxRssBytes).toBeGreaterThan(0);
    expect((result.usage?.userCpuMs ?? 0) + (result.usage?.systemCpuMs ?? 0)).toBeGreaterThan(0);
  });
});

describe("HelperSpawner", () => {
  it("spawns through the native helper when the package built it", () => {
    if (process.env.FLOTILLA_NATIVE === "required") expect(nativeBuilt).toBe(true);
    expect(nativeSpawner.path).toBe(nativeBuilt ? "native helper" : "node helper");
    expect(nodeSpawner.path).toBe("node helper");
  });

  it.runIf(nativeBuilt && process.platform === "linux")(
    "passes on nothing but stdio from the native helper",
    async () => {
      const chunks: OutputChunk[] = [];
      const handle = startExec(
        { argv: ["ls", "/proc/self/fd"] },
        { spawner: nativeSpawner, onOutput: (chunk) => chunks.push(chunk) },
      );
      await handle.done;
      const fds = chunks
        .map((c) => c.data)
        .join("")
        .split("\n")
        .filter(Boolean)
        .map(Number);
      // 3 is ls's own handle on the directory it lists.
      expect(fds.sort()).toEqual([0, 1, 2, 3]);
    },
  );

  it.each([
    ["native", nativeSpawner],
    ["node", nodeSpawner],
  ])(
    "forwards large output of several processes at once byte for byte (%s helper)",
    async (_name, helper) => {
      const sizes = [8 << 20, 3 << 20, 1 << 20, 0];
      let stalled = false;
      const runs = sizes.map(
        (size) =>
          new Promise<{ stdout: number; stderr: number; ok: boolean }>((resolve, reject) => {
            const counts = { stdout: 0, stderr: 0, ok: true };
            helper.spawn(
              {
                file: "sh",
                args: ["-c", `yes flotilla | head -c ${size}; echo done >&2`],
                env: { PATH: "/usr/bin:/bin" },
              },
              {
                onSpawn: () => {},
                onData: (stream, bytes) => {
                  // Hold the thread once, as a busy agent would: the helper must stop reading and catch up.
                  if (!stalled) {
                    stalled = true;
                    const until = Date.now() + 300;
                    while (Date.now() < until) {}
                  }
                  // Every line is "flotilla\n", so each byte is known from its offset.
                  if (stream === "stdout") {
                    for (let i = 0; i < bytes.length; i += 4099) {
                      if (bytes[i] !== "flotilla\n".charCodeAt((counts.stdout + i) % 9)) counts.ok = false;
                    }
                  }
                  counts[stream] += bytes.length;
                },
                onExit: () => {},
                onClose: () => resolve(counts),
                onError: (failure) => reject(new Error(failure.message)),
              },
            );
          }),
      );
      const results = await Promise.all(runs);
      expect(results.map((r) => r.stdout)).toEqual(sizes);
      expect(results.map((r) => r.stderr)).toEqual(sizes.map(() => 5));
      expect(results.every((r) => r.ok)).toBe(true);
    },
  );

  it.runIf(process.platform === "linux").each([
    ["native", nativeSpawner],
    ["node", nodeSpawner],
  ])(
    "ends the runs of a helper that dies as spawn failures (retried elsewhere), kills their processes, and goes the next way (%s)",
    async (_name, helper) => {
      // The agent's side of the spawn: the pid as the helper reported it.
      let pid = 0;
      const reporting: Spawner = {
        spawn: (request, events) =>
          helper.spawn(request, {
            ...events,
            onSpawn: (spawned) => {
              pid = spawned;
              events.onSpawn(spawned);
            },
          }),
        close: () => helper.close(),
      };
      const handle = startExec({ argv: ["sleep", "30"] }, { spawner: reporting, onOutput: () => {} });
      await until(() => pid !== 0, "the helper reports the spawn");
      // The task's parent is the helper (field 4 of /proc/<pid>/stat, after the command in parentheses).
      const stat = await readFile(`/proc/${pid}/stat`, "utf8");
      const helperPid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      expect(helperPid).toBeGreaterThan(0);
      process.kill(helperPid, "SIGKILL");
      const before = helper.path;
      const result = await handle.done;
      expect(result).toMatchObject({ outcome: "failed", error: { code: "E_SPAWN" } });
      expect(result.error?.message).toContain("the spawn helper stopped");
      expect(await aliveAfter(pid)).toBe(false);
      // A helper that crashed once is not started again: the next process goes the next way.
      expect(helper.path).toBe(before === "native helper" ? "node helper" : "fallback");
      const next = startExec({ argv: ["true"] }, { spawner: helper });
      expect((await next.done).outcome).toBe("succeeded");
    },
  );

  it("chooses the native helper from FLOTILLA_SPAWN_HELPER", () => {
    expect(nativeHelperPath({ FLOTILLA_SPAWN_HELPER: "node" })).toBeUndefined();
    expect(nativeHelperPath({ FLOTILLA_SPAWN_HELPER: "/bin/sh" })).toBe("/bin/sh");
    expect(nativeHelperPath({ FLOTILLA_SPAWN_HELPER: join(dir, "missing-helper") })).toBeUndefined();
    expect(nativeHelperPath({ FLOTILLA_SPAWN_HELPER: "native" })).toBe(nativeHelperPath({}));
  });

  it("falls back to the node helper when the native one fails to start", async () => {
    const spawnerWithBadNative = new HelperSpawner({ nativeHelper: "/bin/false" });
    try {
      const chunks: OutputChunk[] = [];
      const handle = startExec(
        { shell: "echo fine" },
        { spawner: spawnerWithBadNative, onOutput: (chunk) => chunks.push(chunk) },
      );
      expect((await handle.done).outcome).toBe("succeeded");
      expect(chunks.map((c) => c.data).join("")).toBe("fine\n");
      expect(spawnerWithBadNative.path).toBe("node helper");
    } finally {
      await spawnerWithBadNative.close();
    }
  });

  it.each([
    ["cannot be started", "/nonexistent/node"],
    ["exits without a word", "/bin/false"],
    ["answers with something else", "/bin/echo"],
  ])("falls back to a worker thread when its helper %s", async (_why, execPath) => {
    const fallback = new HelperSpawner({ execPath, nativeHelper: false });
    try {
      const outputs = await Promise.all(
        [1, 2, 3].map(async (n) => {
          const chunks: OutputChunk[] = [];
          const handle = startExec(
            { shell: `echo ${n}` },
            { spawner: fallback, onOutput: (chunk) => chunks.push(chunk) },
          );
          expect((await handle.done).outcome).toBe("succeeded");
          return chunks.map((c) => c.data).join("");
        }),
      );
      expect(outputs).toEqual(["1\n", "2\n", "3\n"]);
      expect(fallback.path).toBe("fallback");
      const later = startExec({ argv: ["true"] }, { spawner: fallback });
      expect((await later.done).outcome).toBe("succeeded");
    } finally {
      await fallback.close();
    }
  });
});
