/**
 * The coordinator's alert and history settings as flags (and so as config file keys, which are flag
 * names): the thresholds of `alert-rules.ts`, the webhook, and how often to evaluate and sample. Kept
 * apart from `cli.ts`, which reads them through {@link alertOptions}.
 */
import type { AlertThresholds } from "./alert-rules.js";
import type { CoordinatorOptions } from "./options.js";

/** The alert and history flags, as `parseArgs` describes them. */
export const ALERT_FLAGS = {
  "alert-min-nodes": { type: "string" },
  "alert-max-nodes": { type: "string" },
  "alert-heartbeat-latency-ms": { type: "string" },
  "alert-start-latency-ms": { type: "string" },
  "alert-cpu-load": { type: "string" },
  "alert-memory": { type: "string" },
  "alert-stability": { type: "string" },
  "alert-stability-min-tasks": { type: "string" },
  "alert-queue-wait-ms": { type: "string" },
  "alert-fire-after-ms": { type: "string" },
  "alert-resolve-after-ms": { type: "string" },
  "alert-hysteresis": { type: "string" },
  "alert-interval-ms": { type: "string" },
  "alert-webhook": { type: "string" },
  "history-interval-ms": { type: "string" },
  "history-minutes": { type: "string" },
} as const;

/** The lines of `--help` about them. */
export const ALERT_USAGE = `Alerts (each fires after --alert-fire-after-ms past its threshold, resolves after --alert-resolve-after-ms back):
  --alert-min-nodes <n>     fewer healthy nodes fire cluster_size (default 3)
  --alert-max-nodes <n>     more healthy nodes fire cluster_size (default 10)
  --alert-heartbeat-latency-ms <n>  heartbeat delay, agent to coordinator (default 1000)
  --alert-start-latency-ms <n>      submit to start, 90th percentile of the last minute (default 1000)
  --alert-cpu-load <x>      1-minute load per core on a node (default 0.8)
  --alert-memory <x>        share of memory used on a node (default 0.8)
  --alert-stability <x>     share of the last hour's runs not cut short by a node fault, minimum (default 0.9)
  --alert-stability-min-tasks <n>   runs in the hour before stability is judged (default 20)
  --alert-queue-wait-ms <n> wait of the oldest task not yet leased (default 300000)
  --alert-fire-after-ms <n>     (default 10000)      --alert-resolve-after-ms <n>  (default 30000)
  --alert-hysteresis <x>    how far back past its threshold, as a share of it, a reading must come (default 0.1)
  --alert-interval-ms <n>   how often the rules are evaluated (default 2000)
  --alert-webhook <url>     POST each fired and resolved alert there as JSON, retried with backoff
  --history-interval-ms <n> one history sample for charts this often (default 10000)
  --history-minutes <n>     history kept in Redis (default 15)`;

/** The thresholds each flag sets, and whether it takes whole numbers only. */
const THRESHOLD_FLAGS: readonly (readonly [keyof typeof ALERT_FLAGS, keyof AlertThresholds, boolean])[] = [
  ["alert-min-nodes", "minNodes", true],
  ["alert-max-nodes", "maxNodes", true],
  ["alert-heartbeat-latency-ms", "heartbeatLatencyMs", true],
  ["alert-start-latency-ms", "startLatencyMs", true],
  ["alert-cpu-load", "cpuLoadPerCore", false],
  ["alert-memory", "memoryUsed", false],
  ["alert-stability", "stability", false],
  ["alert-stability-min-tasks", "stabilityMinTasks", true],
  ["alert-queue-wait-ms", "queueWaitMs", true],
  ["alert-fire-after-ms", "fireAfterMs", true],
  ["alert-resolve-after-ms", "resolveAfterMs", true],
  ["alert-hysteresis", "hysteresis", false],
];

/** Reads one number flag (cli.ts's parser, which names the flag in its error). */
export type NumberFlag = (
  flag: string,
  value: string | undefined,
  options?: { integer?: boolean; min?: number },
) => number | undefined;

/** The alert and history options the flags set. */
export function alertOptions(
  values: Partial<Record<keyof typeof ALERT_FLAGS, string>>,
  number: NumberFlag,
): Pick<
  CoordinatorOptions,
  "alerts" | "alertWebhookUrl" | "alertIntervalMs" | "historyIntervalMs" | "historyMinutes"
> {
  const alerts: Partial<AlertThresholds> = {};
  for (const [flag, key, integer] of THRESHOLD_FLAGS) {
    const value = number(flag, values[flag], { integer });
    if (value !== undefined) alerts[key] = value;
  }
  const options: ReturnType<typeof alertOptions> = { alerts };
  if (values["alert-webhook"] !== undefined) options.alertWebhookUrl = values["alert-webhook"];
  const every = number("alert-interval-ms", values["alert-interval-ms"], { min: 10 });
  if (every !== undefined) options.alertIntervalMs = every;
  const sampleEvery = number("history-interval-ms", values["history-interval-ms"], { min: 10 });
  if (sampleEvery !== undefined) options.historyIntervalMs = sampleEvery;
  const minutes = number("history-minutes", values["history-minutes"], { integer: false, min: 0.1 });
  if (minutes !== undefined) options.historyMinutes = minutes;
  return options;
}
