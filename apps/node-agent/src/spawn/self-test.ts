/**
 * The spawn helper's self-test, run at start before a native helper is trusted with tasks: it must start
 * a process, pass its output back, report its exit code, and kill a whole process group (a child left in
 * the background included). A helper compiled on a machine where it was never tested (macOS, with
 * whatever `cc` is there) is used only if it passes; otherwise the agent says why and uses the Node.js one.
 */
import { readFileSync } from "node:fs";
import type { ProcessEvents, Spawner } from "../spawner.js";
import { HelperSpawner } from "./helper-spawner.js";

/** How long the whole self-test may take. */
const SELF_TEST_MS = 10_000;

/** What the self-test found: passed, or the first thing that failed. */
export type SelfTestResult = { ok: true } | { ok: false; reason: string };

interface Ended {
  output: string;
  code: number | null;
  signal: string | null;
}

/** Runs `file args` through `spawner`, resolving when it has ended (or failed to start). */
function runThrough(
  spawner: Spawner,
  file: string,
  args: string[],
  onSpawned?: (kill: () => void, output: () => string) => void,
): Promise<Ended> {
  return new Promise((resolve, reject) => {
    let output = "";
    let code: number | null = null;
    let signal: string | null = null;
    const events: ProcessEvents = {
      onSpawn: () => {},
      onData: (_stream, bytes) => {
        output += Buffer.from(bytes).toString("utf8");
        onSpawned?.(
          () => child.signalGroup("SIGKILL"),
          () => output,
        );
      },
      onExit: (exitCode, exitSignal) => {
        code = exitCode;
        signal = exitSignal;
      },
      onClose: () => resolve({ output, code, signal }),
      onError: (failure) => reject(new Error(failure.message)),
    };
    const child = spawner.spawn({ file, args, env: { PATH: "/usr/bin:/bin" } }, events);
  });
}

/** Whether a process exists and is not a zombie waiting for a parent that does not reap. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // Linux: the state is the field after the parenthesised name; Z is a zombie, already dead.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** Runs the self-test against the native helper at `helperPath`. */
export async function selfTestHelper(helperPath: string): Promise<SelfTestResult> {
  // No fallback: a helper that cannot start must fail the test, not pass it through another spawner.
  const failing: Spawner = {
    spawn: (_request, events) => {
      queueMicrotask(() => events.onError({ code: undefined, message: "the helper did not start" }));
      return { signalGroup: () => {}, closePipes: () => {} };
    },
    close: async () => {},
  };
  const spawner = new HelperSpawner({ nativeHelper: helperPath, fallback: failing, nodeHelper: false });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SelfTestResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, reason: `no answer within ${SELF_TEST_MS} ms` }),
      SELF_TEST_MS,
    );
  });
  try {
    return await Promise.race([checks(spawner), timeout]);
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    clearTimeout(timer);
    // Not awaited: an idle helper is unref'd, and it exits by itself once its stdin closes.
    void spawner.close();
  }
}

async function checks(spawner: Spawner): Promise<SelfTestResult> {
  const first = await runThrough(spawner, "/bin/sh", ["-c", "echo flotilla-self-test; exit 3"]);
  if (first.output !== "flotilla-self-test\n")
    return { ok: false, reason: `output came back as ${JSON.stringify(first.output)}` };
  if (first.code !== 3)
    return { ok: false, reason: `exit code 3 came back as ${first.code} (${first.signal})` };
  // A shell that leaves `sleep` in the background and waits: killing the group must end both.
  let background: number | undefined;
  let killed = false;
  const group = await runThrough(spawner, "/bin/sh", ["-c", "sleep 60 & echo $!; wait"], (kill, output) => {
    const pid = Number.parseInt(output(), 10);
    if (!killed && Number.isInteger(pid) && output().endsWith("\n")) {
      killed = true;
      background = pid;
      kill();
    }
  });
  if (group.signal !== "SIGKILL")
    return { ok: false, reason: `the group kill ended the shell with ${group.code}/${group.signal}` };
  if (background === undefined)
    return { ok: false, reason: "the background process's pid did not come back" };
  const deadline = Date.now() + 5_000;
  while (alive(background) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (alive(background)) return { ok: false, reason: "a process in the group outlived the group kill" };
  return { ok: true };
}
