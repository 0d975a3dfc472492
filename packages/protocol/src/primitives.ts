import { z } from "zod";

/** The protocol version this package speaks. A frame without `v` predates versioning and is read as 1. */
export const PROTOCOL_VERSION = 1;

/** The characters an id may use: safe in Redis key names, URLs and shells, and free of `{`/`}` hash-tags. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A node id or task id: 1..128 characters, starting with a letter or digit. */
export const IdSchema = z.string().regex(ID_PATTERN, {
  message: "must be 1..128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit",
});
/** A node id or task id. */
export type Id = z.infer<typeof IdSchema>;

/** A message id: any string of 1..128 characters (clients may use UUIDs, counters, …). */
export const MessageIdSchema = z.string().min(1).max(128);

/**
 * The sender of a message: a node id, `"coordinator"`, or a client id. Kept looser than {@link IdSchema}
 * because bridges that predate Flotilla name themselves freely.
 */
export const SenderSchema = z.string().min(1).max(128);

/**
 * The envelope timestamp: ISO-8601 as other bridges already send it. A trailing `Z` or an offset is
 * expected; a local time without zone is tolerated because Python's `datetime.isoformat()` writes one.
 */
export const TimestampSchema = z.iso.datetime({ offset: true, local: true });

/** A duration in whole milliseconds (never negative). */
export const DurationMsSchema = z.int().min(0);

/** An absolute instant as whole milliseconds since the Unix epoch. */
export const EpochMsSchema = z.int().min(0);

/** A lease epoch: bumped each time a task is (re)leased, so late results from an old lease are fenced off. */
export const EpochSchema = z.int().min(1);

/** A string that may reach `execve` or the environment: a NUL byte would silently truncate it there. */
export const NulFreeStringSchema = z
  .string()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting NUL is the point; \x00 reads the same in every regex dialect a bridge may use.
  .regex(/^[^\x00]*$/, { message: "must not contain NUL bytes (\\0)" });

/** A capability name such as `docker`, `linux`, `heavy`. */
export const CapabilitySchema = z.string().min(1).max(128);

/** Free-form string labels (`team=infra`). */
export const LabelsSchema = z.record(z.string(), z.string());
/** Free-form string labels. */
export type Labels = z.infer<typeof LabelsSchema>;
