/** The envelope every message carries, and the helper that builds one message schema from it. */
import { z } from "zod";
import { MessageIdSchema, PROTOCOL_VERSION, SenderSchema, TimestampSchema } from "./primitives.js";

/** `v`: absent on frames from bridges that predate versioning, which speak version 1. */
export const VersionSchema = z.literal(PROTOCOL_VERSION).default(PROTOCOL_VERSION);

/** The fields every message carries besides `type`. */
export const envelopeShape = {
  v: VersionSchema,
  id: MessageIdSchema,
  timestamp: TimestampSchema,
  from: SenderSchema,
};

/** The envelope keys, which {@link createMessage}-style helpers fill in. */
export const ENVELOPE_KEYS = ["v", "type", "id", "timestamp", "from"] as const;

/** Builds one message schema: the envelope, the literal `type`, then the type's own fields, all flat. */
export function message<const T extends string, S extends z.core.$ZodLooseShape>(type: T, shape: S) {
  return z.object({ ...envelopeShape, type: z.literal(type), ...shape });
}
