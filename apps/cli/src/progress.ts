import type { TaskEvent } from "@flotilla/client";
import type { OutputStream } from "./cli.js";
import { formatDuration } from "./duration.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** What to tell the user while a task is not running yet; undefined once it runs. */
export function describeWait(event: TaskEvent): string | undefined {
  switch (event.state) {
    case "accepted":
      return "accepted, looking for a node";
    case "waiting":
      return `waiting: ${event.reason ?? "no node can take it yet"}`;
    case "queued":
      return event.node === undefined ? "queued" : `queued on ${event.node}`;
    case "leased":
      return event.node === undefined ? "starting" : `starting on ${event.node}`;
    default:
      return undefined;
  }
}

/**
 * A one-line spinner on stderr while a task waits. Drawn only on a terminal: piped stderr stays clean for
 * the remote command's own output.
 */
export class Progress {
  readonly #stream: OutputStream;
  readonly #now: () => number;
  #text: string | undefined;
  #since = 0;
  #frame = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(stream: OutputStream, now: () => number) {
    this.#stream = stream;
    this.#now = now;
  }

  /** Shows (or updates) the line. */
  show(text: string): void {
    if (!this.#stream.isTTY) return;
    if (this.#text === undefined) this.#since = this.#now();
    this.#text = text;
    this.#draw();
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#draw(), 100);
      this.#timer.unref();
    }
  }

  /** Erases the line, if one is shown. */
  clear(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#text === undefined) return;
    this.#text = undefined;
    this.#stream.write("\r\x1b[2K");
  }

  #draw(): void {
    if (this.#text === undefined) return;
    this.#frame = (this.#frame + 1) % FRAMES.length;
    const waited = formatDuration(this.#now() - this.#since);
    this.#stream.write(`\r\x1b[2K${FRAMES[this.#frame]} ${this.#text} (${waited})`);
  }
}
