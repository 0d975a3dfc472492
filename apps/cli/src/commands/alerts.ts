import type { Alert } from "@flotilla/client";
import type { CommandSpec } from "../cli.js";
import { formatDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import { json, table, truncate } from "../format.js";

/** `flotilla alerts`: the fleet's firing alerts (with --all, recently resolved ones too). */
export const alertsCommand: CommandSpec = {
  name: "alerts",
  summary: "firing alerts (--all: recently resolved ones too)",
  usage: "flotilla alerts [--all] [--json]",
  options: {
    all: { type: "boolean", description: "also the alerts resolved recently" },
    json: { type: "boolean", description: "print JSON" },
  },
  args: { min: 0, max: 0 },
  details:
    "The coordinator watches the fleet's size, heartbeat and start latency, each node's CPU load and memory, the last hour's stability and the oldest task's wait against the thresholds in its config (see its --help). An alert fires after its reading has been past the threshold for a while and resolves once it has been back for a while; `flotilla events` shows alert.fired and alert.resolved as they happen.",
  examples: ["flotilla alerts", "flotilla alerts --all", "flotilla alerts --json"],
  async run(context) {
    const client = await context.client();
    const alerts = await client.alerts({ firingOnly: context.values.all !== true });
    if (context.json) {
      context.out(json(alerts));
      return EXIT.OK;
    }
    if (alerts.length === 0) {
      context.out(context.values.all === true ? "no alerts\n" : "no alerts firing\n");
      return EXIT.OK;
    }
    const now = context.now();
    context.out(
      table(
        ["STATE", "RULE", "SUBJECT", "VALUE", "THRESHOLD", "SINCE", "MESSAGE"],
        alerts.map((alert) => [
          alert.resolvedAt === undefined ? "firing" : "resolved",
          alert.rule,
          alert.subject,
          figure(alert.value),
          figure(alert.threshold),
          `${formatDuration(now - (alert.resolvedAt ?? alert.firedAt))} ago`,
          truncate(alert.message, 80),
        ]),
      ),
    );
    return EXIT.OK;
  },
};

/** A reading as people read it: whole numbers as they are, shares with two decimals. */
function figure(value: Alert["value"]): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
