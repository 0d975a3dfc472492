import { fileURLToPath } from "node:url";
import { type BinSpec, nodeBin } from "@flotilla/launcher";

const root = new URL("../../../", import.meta.url);
const tsxLoader = import.meta.resolve("tsx");

/** `flotilla-coordinator` from this checkout's sources (no build needed). */
export function coordinatorBin(): BinSpec {
  return nodeBin(fileURLToPath(new URL("apps/coordinator/src/main.ts", root)), tsxLoader);
}

/** `flotilla-agent` from this checkout's sources (no build needed). */
export function agentBin(): BinSpec {
  return nodeBin(fileURLToPath(new URL("apps/node-agent/src/main.ts", root)), tsxLoader);
}
