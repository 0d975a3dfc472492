import { FlotillaError } from "@flotilla/protocol";

/** The package's name, for log lines and version reports. */
export const PACKAGE_NAME = "@flotilla/scheduler";

/** Placeholder guard used until the package's real API lands; proves the workspace wiring. */
export function assertWired(): void {
  if (!FlotillaError) throw new Error("protocol package not resolved");
}
