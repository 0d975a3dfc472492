import { readFileSync } from "node:fs";

/**
 * The fault suite's witness of what really ran: every task of a scenario is a shell command that sleeps
 * and then appends one line `taskId epoch node start end` (ms since the epoch) to the scenario's run log.
 * This module owns that command and the reading of the log, so duplicates and overlapping runs are
 * counted from the commands' own side effects rather than from the coordinator's records. The task id
 * comes from `FLOTILLA_TASK_ID` when the agent sets it, else from a label the workload passes in argv
 * (mapped back to the id the submit returned); the node from `FLOTILLA_NODE`, else the agent's
 * `FLOTILLA_TEST_NODE` (set by the harness), else the host name; the epoch from `FLOTILLA_EPOCH` ("-"
 * when unset).
 */

/**
 * The command of one task: sleeps `ms` then records its run in `file` under `label`. Bash reads the clock
 * from `EPOCHREALTIME` without a fork (with `date` where bash is older than 5), so recording adds one
 * process start to a plain `sleep` and the recorded span covers the whole sleep.
 */
export function recordedSleep(label: string, ms: number, file: string): string[] {
  const script = [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
    'now() { if [ -n "$EPOCHREALTIME" ]; then n=${EPOCHREALTIME/[.,]/}; n=${n%???}; else n=$(date +%s%3N); fi; }',
    'now; s=$n; sleep "$2"; now',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
    'echo "${FLOTILLA_TASK_ID:-$1} ${FLOTILLA_EPOCH:--} ${FLOTILLA_NODE:-${FLOTILLA_TEST_NODE:-$HOSTNAME}} $s $n" >> "$3"',
  ].join("\n");
  return ["bash", "-c", script, "bash", label, (ms / 1000).toFixed(3), file];
}

/** One completed run, as its command recorded it. */
export interface RecordedRun {
  taskId: string;
  epoch: string;
  node: string;
  start: number;
  end: number;
}

/** What the run log says about a set of tasks. */
export interface RunCensus {
  /** Completed runs by task id (tasks of other scenarios' labels or unknown ids are left out). */
  runs: Map<string, RecordedRun[]>;
  /** Tasks with more than one completed run. */
  duplicates: number;
  /** Pairs of runs of one task that overlapped in time. */
  overlapping: number;
  /** The longest overlap of two runs of one task, in ms (0 when none). */
  overlapMs: number;
  /** Lines that are not `key epoch node start end`. */
  malformed: number;
}

/**
 * Reads the run log. `idOf` maps a key written in the log (a task id, or a label given to
 * {@link recordedSleep}) to the task id, or undefined for a key that is not one of the tasks judged.
 */
export function readRunLog(file: string, idOf: (key: string) => string | undefined): RunCensus {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const runs = new Map<string, RecordedRun[]>();
  let malformed = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [key, epoch, node, start, end, ...rest] = line.trim().split(/\s+/);
    const startMs = Number(start);
    const endMs = Number(end);
    if (rest.length > 0 || node === undefined || !Number.isFinite(startMs) || !Number.isFinite(endMs)) {
      malformed += 1;
      continue;
    }
    const taskId = idOf(key as string);
    if (taskId === undefined) continue;
    const list = runs.get(taskId) ?? [];
    list.push({ taskId, epoch: epoch as string, node, start: startMs, end: endMs });
    runs.set(taskId, list);
  }
  let duplicates = 0;
  let overlapping = 0;
  let overlapMs = 0;
  for (const list of runs.values()) {
    if (list.length > 1) duplicates += 1;
    for (let i = 0; i < list.length; i += 1) {
      for (let j = i + 1; j < list.length; j += 1) {
        const a = list[i] as RecordedRun;
        const b = list[j] as RecordedRun;
        const overlap = Math.min(a.end, b.end) - Math.max(a.start, b.start);
        if (overlap > 0) {
          overlapping += 1;
          overlapMs = Math.max(overlapMs, overlap);
        }
      }
    }
  }
  return { runs, duplicates, overlapping, overlapMs, malformed };
}
