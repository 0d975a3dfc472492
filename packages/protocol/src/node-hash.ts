import { decodeRecord, type ProtocolError, type RecordResult } from "./codec.js";
import { FlotillaError } from "./errors.js";
import { type NodeRecord, NodeRecordSchema } from "./records.js";

/** A Redis hash as a client returns it (`HGETALL`). */
export type RedisHash = Record<string, string>;

/**
 * Writes a node record as the registry hash `agent:{id}`. `capabilities`, `labels` and `fingerprint` are
 * JSON; `last_seen` is ISO-8601 like the heartbeat timestamp other bridges send; `draining` is
 * `"true"`/`"false"`. Absent fields are left out so a partial `HSET` never blanks a field.
 */
export function nodeRecordToHash(record: NodeRecord): RedisHash {
  const hash: RedisHash = {
    id: record.id,
    host: record.host,
    type: record.type,
    capabilities: JSON.stringify(record.capabilities),
    last_seen: new Date(record.lastSeenAt).toISOString(),
  };
  if (record.version !== undefined) hash.version = record.version;
  if (record.slots !== undefined) hash.slots = String(record.slots);
  if (record.labels !== undefined) hash.labels = JSON.stringify(record.labels);
  if (record.fingerprint !== undefined) hash.fingerprint = JSON.stringify(record.fingerprint);
  if (record.status !== undefined) hash.status = record.status;
  if (record.draining !== undefined) hash.draining = String(record.draining);
  if (record.breaker !== undefined) hash.breaker = record.breaker;
  return hash;
}

/** Epoch seconds (Python's `time.time()`) are below this; epoch milliseconds are above it. */
const SECONDS_CEILING = 100_000_000_000;

/**
 * Reads `last_seen` as other bridges may have written it: ISO-8601, epoch milliseconds, or epoch seconds
 * (possibly fractional).
 */
function parseLastSeen(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const number = Number(text);
    return Math.round(number < SECONDS_CEILING ? number * 1000 : number);
  }
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

function parseBoolean(text: string): boolean | string {
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  return text;
}

function badField(field: string, reason: string): { ok: false; error: ProtocolError } {
  const error = new FlotillaError("E_BAD_JSON", `node record: ${field}: ${reason}`, {
    details: { path: field },
  }) as ProtocolError;
  return { ok: false, error };
}

const JSON_FIELDS = ["capabilities", "labels", "fingerprint"] as const;

/**
 * Reads the registry hash `agent:{id}` back into a checked {@link NodeRecord}. Records written by other
 * bridges (only `id`, `host`, `type`, `capabilities`, `last_seen`) read fine; unknown hash fields are ignored.
 */
export function nodeRecordFromHash(hash: RedisHash): RecordResult<NodeRecord> {
  const value: Record<string, unknown> = {
    id: hash.id,
    host: hash.host,
    type: hash.type,
    version: hash.version,
    status: hash.status,
    breaker: hash.breaker,
  };
  for (const field of JSON_FIELDS) {
    const text = hash[field];
    if (text === undefined) continue;
    try {
      value[field] = JSON.parse(text);
    } catch {
      return badField(field, "is not valid JSON");
    }
  }
  if (hash.last_seen !== undefined) {
    const lastSeenAt = parseLastSeen(hash.last_seen);
    if (lastSeenAt === undefined)
      return badField("last_seen", `cannot read ${JSON.stringify(hash.last_seen)} as a time`);
    value.lastSeenAt = lastSeenAt;
  }
  if (hash.slots !== undefined) value.slots = Number(hash.slots);
  if (hash.draining !== undefined) value.draining = parseBoolean(hash.draining);
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return decodeRecord(NodeRecordSchema, value);
}
