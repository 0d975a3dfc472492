import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { COORDINATOR_SCENARIOS } from "./coordinator-faults.js";
import type { Scenario } from "./probes.js";
import { REDIS_SCENARIOS } from "./redis-faults.js";
import { FIRST_SCENARIOS } from "./scenarios.js";

/**
 * The fault suite: each scenario runs real processes (redis-server, coordinators, agents), injects one
 * fault and checks that every accepted task succeeded, once. Prints one JSON line per scenario; exits 1 if
 * an invariant broke. `pnpm test:faults [scenario...]`; process logs go to `.flotilla/faults/<scenario>.log`
 * and the tasks' own record of their runs to `.flotilla/faults/<scenario>.runs`.
 */
const SCENARIOS: Record<string, Scenario> = {
  ...FIRST_SCENARIOS,
  ...COORDINATOR_SCENARIOS,
  ...REDIS_SCENARIOS,
};
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : Object.keys(SCENARIOS);
const logDir = join(process.cwd(), ".flotilla", "faults");
mkdirSync(logDir, { recursive: true });
let failed = 0;
for (const name of names) {
  const scenario = SCENARIOS[name];
  if (!scenario) {
    process.stderr.write(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(", ")}\n`);
    process.exit(2);
  }
  const logFile = join(logDir, `${name}.log`);
  const runLog = join(logDir, `${name}.runs`);
  rmSync(logFile, { force: true });
  rmSync(runLog, { force: true });
  const log = (line: string): void => appendFileSync(logFile, `${line}\n`);
  try {
    const { report, violations } = await scenario({ log, runLog });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (violations.length > 0) {
      failed += 1;
      process.stderr.write(
        `${name}: ${violations.length} invariant(s) broken:\n  ${violations.slice(0, 20).join("\n  ")}\n`,
      );
    }
  } catch (error) {
    failed += 1;
    // A scenario that could not finish still prints its line, so a reader of stdout sees it failed.
    process.stdout.write(
      `${JSON.stringify({ fault: name, error: (error as Error).message ?? String(error) })}\n`,
    );
    process.stderr.write(`${name}: ${(error as Error).stack ?? error}\n(logs: ${logFile})\n`);
  }
}
process.stdout.write(`${names.length - failed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
