/** Which pipe a piece of task output came from. */
export type OutputStream = "stdout" | "stderr";

/** One batch of task output as it goes on the wire (`task.output` without the envelope). */
export interface OutputChunk {
  stream: OutputStream;
  /** One sequence across both streams, from 0, so a watcher can restore the interleaving. */
  seq: number;
  data: string;
}

/** What {@link OutputBatcher} needs; both are injectable so tests can drive time. */
export interface OutputBatcherOptions {
  /** Receives every chunk, in seq order. */
  onChunk: (chunk: OutputChunk) => void;
  /** How long the first byte of a batch may wait before it is sent (default 50 ms). */
  windowMs?: number;
  /** A batch is cut when it reaches this many UTF-16 code units (default 64 KiB). */
  maxChunkChars?: number;
}

const DEFAULT_WINDOW_MS = 50;
const DEFAULT_MAX_CHUNK_CHARS = 64 * 1024;

/**
 * Collects output from both streams and emits it as chunks: one message per stream switch, per full
 * chunk or per window, never per read. Batching keeps a chatty process (`seq 1 100000`) from producing
 * thousands of frames while the window bounds how stale live output can get.
 */
export class OutputBatcher {
  private readonly onChunk: (chunk: OutputChunk) => void;
  private readonly windowMs: number;
  private readonly maxChunkChars: number;
  private pendingStream: OutputStream | undefined;
  private pending: string[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextSeq = 0;

  constructor(options: OutputBatcherOptions) {
    this.onChunk = options.onChunk;
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxChunkChars = options.maxChunkChars ?? DEFAULT_MAX_CHUNK_CHARS;
    if (this.maxChunkChars < 1) throw new RangeError("maxChunkChars must be >= 1");
  }

  /** The seq the next chunk will carry (equals the number of chunks emitted so far). */
  get seq(): number {
    return this.nextSeq;
  }

  /** Queues text from one stream; a switch of stream closes the current batch so order is kept. */
  push(stream: OutputStream, text: string): void {
    if (text.length === 0) return;
    if (this.pendingStream !== undefined && this.pendingStream !== stream) this.flush();
    this.pendingStream = stream;
    let rest = text;
    while (rest.length > 0) {
      const room = this.maxChunkChars - this.pendingChars;
      const piece = rest.length <= room ? rest : rest.slice(0, room);
      rest = rest.slice(piece.length);
      this.pending.push(piece);
      this.pendingChars += piece.length;
      if (this.pendingChars >= this.maxChunkChars) {
        this.flush();
        this.pendingStream = stream;
      }
    }
    if (this.pendingChars > 0 && this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
    }
  }

  /** Emits whatever is pending now (called at the end of a run and on a stream switch). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const stream = this.pendingStream;
    if (stream === undefined || this.pendingChars === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] ?? "") : this.pending.join("");
    this.pending = [];
    this.pendingChars = 0;
    this.pendingStream = undefined;
    this.onChunk({ stream, seq: this.nextSeq++, data });
  }

  /** Drops pending output and stops the timer (the run was killed as stale: nothing more is sent). */
  discard(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.pendingChars = 0;
    this.pendingStream = undefined;
  }
}

/** Env var names whose values must never appear in task output. */
const SECRET_NAME = /(?:^|_)(?:TOKEN|SECRET|PASSWORD|KEY)$/i;

/**
 * Values shorter than this are not redacted: masking every "1" or "yes" in the output would hide more
 * than it protects, and such values are not real secrets.
 */
export const MIN_SECRET_LENGTH = 4;

/** The replacement for a secret value in task output. */
export const REDACTED = "***";

/** Values of the variables in `envs` whose names look like secrets, longest first. */
export function secretValues(...envs: Array<Record<string, string | undefined> | undefined>): string[] {
  const values = new Set<string>();
  for (const env of envs) {
    if (env === undefined) continue;
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined && value.length >= MIN_SECRET_LENGTH && SECRET_NAME.test(name))
        values.add(value);
    }
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/**
 * Masks secret values in one stream of text that arrives in arbitrary pieces. A piece that ends with the
 * beginning of a secret is held back until the next piece (or the end) shows whether the secret follows,
 * so a value split across two reads is still masked.
 */
export class StreamRedactor {
  private readonly secrets: readonly string[];
  private carry = "";

  constructor(secrets: readonly string[]) {
    this.secrets = secrets;
  }

  /** Returns the text that is safe to emit now; may hold back a suffix. */
  write(text: string): string {
    if (this.secrets.length === 0) return text;
    const joined = this.mask(this.carry + text);
    const hold = this.heldSuffixLength(joined);
    this.carry = joined.slice(joined.length - hold);
    return joined.slice(0, joined.length - hold);
  }

  /** Returns what was held back; call at the end of the stream. */
  end(): string {
    const rest = this.carry;
    this.carry = "";
    return rest;
  }

  private mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    return out;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some secret. */
  private heldSuffixLength(text: string): number {
    let best = 0;
    for (const secret of this.secrets) {
      const max = Math.min(secret.length - 1, text.length);
      for (let len = max; len > best; len--) {
        if (text.endsWith(secret.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
