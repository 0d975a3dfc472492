import { z } from "zod";
import { CapabilitySchema, DurationMsSchema, EpochSchema, IdSchema, LabelsSchema } from "./primitives.js";

/**
 * What a machine is, as the agent measured it at start-up. `os` is `"linux"`, `"darwin"`, `"windows"` or
 * whatever else the platform reports, so the type stays an open string.
 */
export const FingerprintSchema = z.object({
  os: z.string().min(1),
  distro: z.string(),
  release: z.string(),
  arch: z.string().min(1),
  cpuModel: z.string(),
  cores: z.int().min(1),
  /** Apple silicon and hybrid Intel parts: the fast cores. */
  performanceCores: z.int().min(0).optional(),
  /** Apple silicon and hybrid Intel parts: the slow cores. */
  efficiencyCores: z.int().min(0).optional(),
  memoryBytes: z.int().min(0),
  freeDiskBytes: z.int().min(0),
  docker: z.object({ available: z.boolean(), version: z.string().optional() }),
});
/** What a machine is. */
export type Fingerprint = z.infer<typeof FingerprintSchema>;

/** Everything the coordinator needs to know about a node when it says hello. */
export const NodeInfoSchema = z.object({
  id: IdSchema,
  host: z.string().min(1),
  /** The agent's version, e.g. `0.1.0`. */
  version: z.string().min(1),
  fingerprint: FingerprintSchema,
  labels: LabelsSchema,
  capabilities: z.array(CapabilitySchema),
  /** How many tasks the node runs at once. */
  slots: z.int().min(1),
});
/** Everything the coordinator needs to know about a node when it says hello. */
export type NodeInfo = z.infer<typeof NodeInfoSchema>;

/** A node's availability, in the words other bridges already use. */
export const NODE_STATUSES = ["ready", "busy", "offline"] as const;
/** A node's availability. */
export const NodeStatusSchema = z.enum(NODE_STATUSES);
/** A node's availability. */
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

/** The short form of a node passed around by discovery. */
export const NodeSummarySchema = z.object({
  id: IdSchema,
  host: z.string().min(1),
  capabilities: z.array(CapabilitySchema),
  status: NodeStatusSchema,
});
/** The short form of a node passed around by discovery. */
export type NodeSummary = z.infer<typeof NodeSummarySchema>;

/** A node's load as carried by a heartbeat. */
export const NodeLoadSchema = z.object({
  load1: z.number().min(0),
  load5: z.number().min(0),
  load15: z.number().min(0),
  cpuPercent: z.number().min(0).max(100).optional(),
  memoryFreeBytes: z.int().min(0).optional(),
  slotsUsed: z.int().min(0),
  slotsTotal: z.int().min(0),
});
/** A node's load as carried by a heartbeat. */
export type NodeLoad = z.infer<typeof NodeLoadSchema>;

/** One run a node holds: the task and the lease epoch it runs under. */
export const RunRefSchema = z.object({ taskId: IdSchema, epoch: EpochSchema });
/** One run a node holds. */
export type RunRef = z.infer<typeof RunRefSchema>;

/** Resource usage of a finished process. */
export const UsageSchema = z.object({
  userCpuMs: DurationMsSchema,
  systemCpuMs: DurationMsSchema,
  maxRssBytes: z.int().min(0),
});
/** Resource usage of a finished process. */
export type Usage = z.infer<typeof UsageSchema>;

/**
 * The node id a machine takes by default: its host name with anything a node id may not hold replaced by
 * `-` (and no leading punctuation), at most 128 characters, `node` when nothing is left. The agent and
 * `flotilla mcp` both name this machine so, and agree.
 */
export function nodeIdFromHost(host: string): string {
  const cleaned = host.replace(/[^A-Za-z0-9._:-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return (cleaned || "node").slice(0, 128);
}
