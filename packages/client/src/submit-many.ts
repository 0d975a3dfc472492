/**
 * `client.submitMany`: many specs in few frames. Each spec is checked here on its own against the
 * protocol's schema (the coordinator checks again), given an idempotency key when it has none (so a frame
 * sent again after a lost connection submits nothing twice), and the valid ones go in `task.submitMany`
 * frames of at most `MAX_SUBMIT_BATCH` specs and {@link MAX_BATCH_BYTES}: one round trip and one script
 * call in Redis per frame. The outcomes come back in the order of the specs given.
 */
import { randomUUID } from "node:crypto";
import {
  decodeRecord,
  FlotillaError,
  MAX_SUBMIT_BATCH,
  type SubmitManyOutcome,
  type TaskSpecInput,
  TaskSpecSchema,
} from "@flotilla/protocol";

/** Options of `client.submitMany`. */
export interface SubmitManyOptions {
  /** One invalid spec refuses them all (`E_SCHEMA`, every bad index in `details.invalid`): none is sent. */
  allOrNothing?: boolean;
  /** Specs per frame (default and at most `MAX_SUBMIT_BATCH`, 1000). */
  batchSize?: number;
  /** Give up on each frame's answer after this long. */
  timeoutMs?: number;
}

/** One spec's outcome, with its place in the list given. */
export type SubmitManyResult = SubmitManyOutcome & { index: number };

/** A frame's specs are kept under this many bytes of JSON, well inside the coordinator's frame limit. */
export const MAX_BATCH_BYTES = 512 * 1024;

/** Sends one `task.submitMany` frame and resolves with its outcomes. */
export type SendBatch = (specs: TaskSpecInput[], allOrNothing: boolean) => Promise<SubmitManyOutcome[]>;

/** Checks, keys, batches and sends `specs`; see the module's header. */
export async function submitMany(
  specs: readonly TaskSpecInput[],
  clientId: string,
  send: SendBatch,
  options: SubmitManyOptions = {},
): Promise<SubmitManyResult[]> {
  const results: SubmitManyResult[] = new Array(specs.length);
  const invalid: SubmitManyResult[] = [];
  const valid: { index: number; spec: TaskSpecInput; bytes: number }[] = [];
  specs.forEach((spec, index) => {
    const checked = decodeRecord(TaskSpecSchema, spec);
    if (!checked.ok) {
      const message = checked.error.message.replace(/^record: /, "");
      const refused: SubmitManyResult = { index, ok: false, code: "E_SCHEMA", message };
      results[index] = refused;
      invalid.push(refused);
      return;
    }
    const keyed =
      spec.idempotencyKey === undefined
        ? Object.assign({}, spec, { idempotencyKey: `${clientId}:${randomUUID()}` })
        : spec;
    valid.push({ index, spec: keyed, bytes: JSON.stringify(keyed).length });
  });
  if (options.allOrNothing && invalid.length > 0) {
    throw new FlotillaError(
      "E_SCHEMA",
      `${invalid.length} of ${specs.length} specs are invalid, so none was submitted (all or nothing)`,
      { details: { invalid } },
    );
  }
  const size = Math.min(Math.max(1, options.batchSize ?? MAX_SUBMIT_BATCH), MAX_SUBMIT_BATCH);
  const batches: (typeof valid)[] = [];
  let batch: typeof valid = [];
  let bytes = 0;
  for (const entry of valid) {
    if (batch.length > 0 && (batch.length >= size || bytes + entry.bytes > MAX_BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += entry.bytes;
  }
  if (batch.length > 0) batches.push(batch);
  // Every frame at once: the coordinator takes them in order, each in its own script call.
  await Promise.all(
    batches.map(async (entries) => {
      const outcomes = await send(
        entries.map((entry) => entry.spec),
        options.allOrNothing === true,
      );
      entries.forEach((entry, i) => {
        const outcome = outcomes[i] ?? { ok: false, code: "E_INTERNAL", message: "no outcome for this spec" };
        results[entry.index] = { ...outcome, index: entry.index };
      });
    }),
  );
  return results;
}
