import { hostname } from "node:os";
import { readCaFile } from "@flotilla/protocol";
import { runCommand } from "@flotilla/service";
import type { CommandSpec } from "../cli.js";
import { VERSION } from "../cli.js";
import type { Check } from "../doctor/check.js";
import { coordinatorChecks, nodeCheck, versionsCheck } from "../doctor/coordinator-checks.js";
import {
  agentService,
  diskCheck,
  dockerCheck,
  serviceCheck,
  spawnHelperCheck,
} from "../doctor/machine-checks.js";
import { redisChecks } from "../doctor/redis-checks.js";
import { EXIT } from "../exit-codes.js";
import { json } from "../format.js";

/** `flotilla doctor`: is this machine ready for the fleet, and what to do where it is not. */
export const doctorCommand: CommandSpec = {
  name: "doctor",
  summary: "check this machine and the fleet: Redis, coordinator, token, versions, service, docker, disk",
  usage: "flotilla doctor [--redis URL] [--node ID] [--json]",
  options: {
    redis: {
      type: "string",
      value: "URL",
      description: "the fleet's Redis, to check it too (env FLOTILLA_REDIS_URL)",
    },
    node: {
      type: "string",
      value: "ID",
      description: "this machine's node id (default: the host name, as the agent uses)",
    },
    json: { type: "boolean", description: "print a JSON array of {check, status, detail, fix}" },
  },
  args: { min: 0, max: 0 },
  examples: ["flotilla doctor", "flotilla doctor --redis redis://build-box.local:6379 --json"],
  details:
    "One line per check: ok, warn or fail, what was found and what to do. Exit 1 when any check fails.",
  async run(context) {
    const settings = context.settings();
    const io = context.io;
    const redisUrl = (context.values.redis as string | undefined) ?? io.env.FLOTILLA_REDIS_URL;
    const host = hostname();
    const nodeId = (context.values.node as string | undefined) ?? io.env.FLOTILLA_NODE_ID ?? host;
    const run = io.run ?? runCommand;
    const platform = io.platform ?? process.platform;
    const uid = process.getuid?.() ?? 0;
    const ca = settings.ca.value === undefined ? undefined : await readCaFile(settings.ca.value);

    const checks: Check[] = [...(await redisChecks(redisUrl, context.now))];
    const coordinator = await coordinatorChecks(settings.url.value ?? "", ca, () => context.client());
    checks.push(...coordinator.checks);
    const self = nodeCheck(nodeId, host, coordinator.nodes);
    checks.push(versionsCheck(VERSION, coordinator.version, self.node), self.check);
    checks.push(await dockerCheck(run));
    const service = await agentService(platform, io.homedir, uid, run);
    checks.push(serviceCheck(service), spawnHelperCheck(service), await diskCheck(platform, io.homedir));

    if (context.json) context.out(json(checks));
    else {
      const width = Math.max(...checks.map((c) => c.check.length));
      for (const c of checks)
        context.out(
          `${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.detail}${c.fix === "" ? "" : ` — fix: ${c.fix}`}\n`,
        );
    }
    return checks.some((c) => c.status === "fail") ? EXIT.FAILED : EXIT.OK;
  },
};
