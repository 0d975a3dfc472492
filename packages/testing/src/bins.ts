/** The Flotilla programs of this checkout as launcher bins, for tests and benches that start real processes. */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type BinSpec, nodeBin } from "@flotilla/launcher";

const root = new URL("../../../", import.meta.url);
const tsxLoader = import.meta.resolve("tsx");

/** `flotilla-coordinator` from this checkout's sources (no build needed). */
export function coordinatorBin(): BinSpec {
  return nodeBin(fileURLToPath(new URL("apps/coordinator/src/main.ts", root)), tsxLoader);
}

/**
 * `flotilla-coordinator` as built (`pnpm build`): what ships, so what the bench measures. The sources run
 * under tsx cost more per call (its names for every function made at run time, among others).
 */
export function builtCoordinatorBin(): BinSpec {
  const entry = fileURLToPath(new URL("apps/coordinator/dist/main.js", root));
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run pnpm build first`);
  return nodeBin(entry);
}

/** `flotilla-agent` from this checkout's sources (no build needed). */
export function agentBin(): BinSpec {
  return nodeBin(fileURLToPath(new URL("apps/node-agent/src/main.ts", root)), tsxLoader);
}
