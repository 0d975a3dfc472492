/**
 * A log file that rotates by size: past `maxBytes` it becomes `<file>.1` (the older ones shift up to
 * `<file>.<keep>`, the oldest dropped) and a new file starts. Writes are synchronous, like
 * `pino.destination({ sync: true })`, so nothing is lost when the process exits right after a line.
 * Services started by launchd log here; under systemd journald rotates the output instead.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** How big a log file gets and how many old ones are kept. */
export interface RotationOptions {
  maxBytes?: number;
  keep?: number;
}

/** Default size at which a log file is rotated. */
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Default number of rotated files kept beside the current one. */
export const DEFAULT_LOG_KEEP = 5;

/** A size-rotated log file; pass it to `pino(options, file)` as the destination. */
export class RotatingFile {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private fd: number;
  private size: number;

  constructor(path: string, options: RotationOptions = {}) {
    this.path = path;
    this.maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.keep = options.keep ?? DEFAULT_LOG_KEEP;
    if (!(this.maxBytes > 0) || !Number.isInteger(this.keep) || this.keep < 1)
      throw new RangeError("maxBytes must be > 0 and keep a whole number >= 1");
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, "a", 0o644);
    this.size = fstatSync(this.fd).size;
  }

  /** Appends a chunk (pino writes one line at a time), rotating first when it would not fit. */
  write(chunk: string): boolean {
    const bytes = Buffer.from(chunk);
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    writeSync(this.fd, bytes);
    this.size += bytes.length;
    return true;
  }

  /** Closes the file. */
  end(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let n = this.keep - 1; n >= 1; n--) {
      try {
        renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, "a", 0o644);
    this.size = 0;
  }
}
