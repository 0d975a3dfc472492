/**
 * What every spawner does the same way: merging a request's environment, signalling a process group, and
 * reporting the processes of a spawner that died as ended.
 */
import type { ProcessEvents, SpawnEnv, SpawnRequest } from "../spawner.js";

/** The whole environment of a request. */
export function mergedEnv(request: SpawnRequest): SpawnEnv {
  return request.baseEnv === undefined ? request.env : { ...request.baseEnv, ...request.env };
}

/** Sends `signal` to the process group `pid` leads; a group that is gone is not an error. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals | number): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we wanted.
  }
}

/**
 * Reports processes whose spawner died as ended: the pipes went with it. One that never got a pid failed
 * to spawn; one that did is killed (its group) in case it outlived the pipes, and is reported killed, or
 * with `asSpawnFailure` as not run at all: the fault was the node's, not the task's, so it is retried.
 */
export function endLost(
  lost: readonly { pid: number | undefined; events: ProcessEvents }[],
  reason: string,
  asSpawnFailure = false,
): void {
  for (const entry of lost) {
    if (entry.pid === undefined) {
      entry.events.onError({ code: undefined, message: reason });
    } else if (asSpawnFailure) {
      signalGroup(entry.pid, "SIGKILL");
      entry.events.onError({ code: "EHELPERLOST", message: reason });
    } else {
      signalGroup(entry.pid, "SIGKILL");
      entry.events.onExit(null, "SIGKILL");
      entry.events.onClose();
    }
  }
}
