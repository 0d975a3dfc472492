/**
 * Which helper the agent's commands start through, decided once at start: the Node.js one when chosen
 * or when no native helper was built; otherwise the native one if it passes its self-test, which matters
 * most on macOS, where it may have been compiled by whatever `cc` was there and never run. The result
 * says what it costs in one line, for the log and for `service install`.
 */
import type { SelfTestResult } from "./self-test.js";

/** The helper to use and the line that says so. */
export interface HelperChoice {
  /** The native helper's path, or false for the Node.js one. */
  nativeHelper: string | false;
  note: string;
}

/** Costs, as measured by bench/spawn.bench.ts on Linux (the Node.js helper forks a node-sized process). */
const NODE_COST = "each command costs the agent about 3x the CPU of the native helper";

/**
 * Chooses the helper: `chosen` is the setting (`native`, `node`, a path, or undefined), `native` the
 * native helper found for it (undefined when none is built), `selfTest` runs the test.
 */
export async function chooseHelper(
  chosen: string | undefined,
  native: string | undefined,
  selfTest: (path: string) => Promise<SelfTestResult>,
): Promise<HelperChoice> {
  if (chosen === "node") return { nativeHelper: false, note: `spawn helper: node, as chosen (${NODE_COST})` };
  if (native === undefined)
    return {
      nativeHelper: false,
      note: `spawn helper: node, as no native helper was built (no C compiler?): ${NODE_COST}`,
    };
  const result = await selfTest(native);
  if (result.ok) return { nativeHelper: native, note: `spawn helper: native (${native}), self-test passed` };
  return {
    nativeHelper: false,
    note: `spawn helper: node, as the native one failed its self-test (${result.reason}): ${NODE_COST}`,
  };
}
