import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Builds the native spawn helper when it is missing or not of the current source (see the script). */
export default function setup(): void {
  const script = fileURLToPath(new URL("../scripts/build-native.mjs", import.meta.url));
  execFileSync(process.execPath, [script], { stdio: "inherit" });
}
