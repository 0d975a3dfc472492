import { execFile } from "node:child_process";
import { statfs } from "node:fs/promises";
import { freemem, loadavg } from "node:os";
import type { Fingerprint } from "@flotilla/protocol";
import si from "systeminformation";

/** What the agent tells the coordinator about its machine. */
export type { Fingerprint };

/** Options of {@link collectFingerprint}. */
export interface CollectOptions {
  /** The directory tasks run in; its filesystem's free space is reported (default `process.cwd()`). */
  workDir?: string;
  /** Bound on the docker engine check (default 2 s); a hung daemon must not delay the agent's start. */
  dockerTimeoutMs?: number;
  /** The docker CLI to ask (default `docker` on PATH). */
  dockerCommand?: string;
}

type StaticPart = Pick<
  Fingerprint,
  | "os"
  | "distro"
  | "release"
  | "arch"
  | "cpuModel"
  | "cores"
  | "performanceCores"
  | "efficiencyCores"
  | "memoryBytes"
>;

/** The hardware and OS do not change while the agent runs: asked once per process. */
let staticPart: Promise<StaticPart> | undefined;

async function collectStatic(): Promise<StaticPart> {
  const [os, cpu, mem] = await Promise.all([si.osInfo(), si.cpu(), si.mem()]);
  const part: StaticPart = {
    os: os.platform === "Windows" ? "windows" : os.platform,
    distro: os.distro,
    release: os.release,
    arch: os.arch,
    cpuModel: [cpu.manufacturer, cpu.brand].filter((s) => s !== "").join(" "),
    cores: cpu.cores,
    memoryBytes: mem.total,
  };
  // systeminformation reports both as 0 on machines without the split; only Apple silicon has one.
  if (cpu.efficiencyCores !== undefined && cpu.efficiencyCores > 0) {
    part.performanceCores = cpu.performanceCores ?? cpu.cores - cpu.efficiencyCores;
    part.efficiencyCores = cpu.efficiencyCores;
  }
  return part;
}

/**
 * Describes this machine. The OS, CPU and memory are read once and cached; free disk and docker are asked
 * every time since they change (a disk fills up, the docker engine is started later).
 */
export async function collectFingerprint(options: CollectOptions = {}): Promise<Fingerprint> {
  staticPart ??= collectStatic();
  const [fixed, freeDiskBytes, docker] = await Promise.all([
    staticPart,
    freeDisk(options.workDir ?? process.cwd()),
    dockerStatus(options.dockerCommand ?? "docker", options.dockerTimeoutMs ?? 2_000),
  ]);
  return { ...fixed, freeDiskBytes, docker };
}

async function freeDisk(dir: string): Promise<number> {
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return 0;
  }
}

/**
 * Asks the docker engine for its version. The CLI alone proves nothing (it is often installed without an
 * engine, or with Docker Desktop stopped), so only an answer from the server counts.
 */
export function dockerStatus(command: string, timeoutMs: number): Promise<Fingerprint["docker"]> {
  return new Promise((resolve) => {
    execFile(
      command,
      ["version", "--format", "{{.Server.Version}}"],
      { timeout: timeoutMs, killSignal: "SIGKILL" },
      (error, stdout) => {
        const version = stdout.trim();
        resolve(error === null && version !== "" ? { available: true, version } : { available: false });
      },
    );
  });
}

/** Options of {@link deriveCapabilities}. */
export interface CapabilityOptions {
  /** A node with at least this many logical cores is `heavy` (default 8). */
  heavyCores?: number;
}

/** Default core count from which a node counts as heavy. */
export const DEFAULT_HEAVY_CORES = 8;

/**
 * The capability names the scheduler matches `needs` against: the OS (`linux`, `macos`), the arch,
 * `docker` when the engine answers, `heavy` or `light`, and every label whose value is "true". Labels win:
 * `heavy=true` makes a small box heavy, `heavy=false` a big one light, `docker=true` claims docker.
 */
export function deriveCapabilities(
  fingerprint: Fingerprint,
  labels: Record<string, string> = {},
  options: CapabilityOptions = {},
): string[] {
  const caps = new Set<string>();
  caps.add(fingerprint.os === "darwin" ? "macos" : fingerprint.os);
  caps.add(fingerprint.arch);
  if (fingerprint.docker.available) caps.add("docker");
  const heavyLabel = labels.heavy;
  const heavy =
    heavyLabel === "true" ||
    (heavyLabel !== "false" && fingerprint.cores >= (options.heavyCores ?? DEFAULT_HEAVY_CORES));
  caps.add(heavy ? "heavy" : "light");
  for (const [name, value] of Object.entries(labels)) {
    if (value === "true") caps.add(name);
  }
  if (heavy) caps.delete("light");
  else caps.delete("heavy");
  return [...caps].sort();
}

/** The `load` of a heartbeat. */
export interface LoadSample {
  load1: number;
  load5: number;
  load15: number;
  memoryFreeBytes: number;
  slotsUsed: number;
  slotsTotal: number;
}

/** A cheap load sample for heartbeats (node:os only, no child processes). */
export function sampleLoad(slotsUsed: number, slotsTotal: number): LoadSample {
  const [load1 = 0, load5 = 0, load15 = 0] = loadavg();
  return { load1, load5, load15, memoryFreeBytes: freemem(), slotsUsed, slotsTotal };
}
