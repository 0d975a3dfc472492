/**
 * What is measured or negotiated about this node while the agent runs ({@link NodeState}: fingerprint,
 * capabilities, slots, prefetch, heartbeat period, draining), read by every agent module. This module
 * measures it at start (checking the slot and prefetch counts) and again now and then, so a docker engine
 * started after the agent shows up as a capability; the wiring changes the rest.
 */
import { FlotillaError } from "@flotilla/protocol";
import { collectFingerprint, deriveCapabilities, type Fingerprint } from "../fingerprint.js";
import { DEFAULT_PREFETCH, type Settings } from "./options.js";

/** What is measured or negotiated about this node while it runs. */
export interface NodeState {
  fingerprint: Fingerprint | undefined;
  capabilities: string[];
  slots: number;
  prefetch: number;
  /** The heartbeat period: the option's until the coordinator's welcome sets it. */
  heartbeatIntervalMs: number;
  /** A graceful stop has begun: no new work is started, held work is handed back. */
  draining: boolean;
}

/** The state of a node not started yet: what the options say, before anything is measured. */
export function initialNodeState(settings: Settings): NodeState {
  const { options } = settings;
  return {
    fingerprint: options.fingerprint,
    capabilities: [],
    slots: options.slots ?? 1,
    prefetch: options.prefetch ?? 0,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    draining: false,
  };
}

function capabilitiesOf(settings: Settings, measured: Fingerprint): string[] {
  const heavy = settings.heavyCores === undefined ? {} : { heavyCores: settings.heavyCores };
  return deriveCapabilities(measured, settings.labels, heavy);
}

function measure(settings: Settings): Promise<Fingerprint> {
  return collectFingerprint(settings.workDir === undefined ? {} : { workDir: settings.workDir });
}

/** Measures the machine (unless given a fingerprint) and settles slots, prefetch and capabilities. */
export async function prepareNode(settings: Settings, node: NodeState): Promise<void> {
  const { options, acceptDelayMs, maxHoldMs } = settings;
  const fingerprint = node.fingerprint ?? (await measure(settings));
  node.fingerprint = fingerprint;
  const slots = options.slots ?? fingerprint.cores;
  node.slots = slots;
  if (!Number.isInteger(slots) || slots < 1)
    throw new FlotillaError("E_CONFIG", `slots must be >= 1, got ${slots}`);
  const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
  node.prefetch = prefetch;
  if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 1024)
    throw new FlotillaError("E_CONFIG", `prefetch must be 0..1024, got ${prefetch}`);
  if (!(acceptDelayMs >= 0))
    throw new FlotillaError("E_CONFIG", `acceptDelayMs must be >= 0, got ${acceptDelayMs}`);
  if (!(maxHoldMs > 0)) throw new FlotillaError("E_CONFIG", `maxHoldMs must be > 0, got ${maxHoldMs}`);
  node.capabilities = capabilitiesOf(settings, fingerprint);
}

/**
 * Measures free disk and docker again, every `fingerprintRefreshMs` (none when the fingerprint was given
 * or the period is 0), until `stopped()` says so; returns the timer to clear.
 */
export function refreshNodeEvery(
  settings: Settings,
  node: NodeState,
  stopped: () => boolean,
): NodeJS.Timeout | undefined {
  const refreshMs = settings.options.fingerprintRefreshMs ?? 60_000;
  if (settings.options.fingerprint !== undefined || refreshMs <= 0) return undefined;
  const refresh = async (): Promise<void> => {
    const measured = await measure(settings).catch(() => undefined);
    if (measured === undefined || stopped()) return;
    const next = capabilitiesOf(settings, measured);
    if (next.join() !== node.capabilities.join()) {
      settings.logger.info({ capabilities: next }, "capabilities changed");
    }
    node.fingerprint = measured;
    node.capabilities = next;
  };
  const timer = setInterval(() => void refresh(), refreshMs);
  timer.unref();
  return timer;
}
