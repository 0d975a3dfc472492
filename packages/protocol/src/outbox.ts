/**
 * The few parts of a WebSocket (the `ws` package's, or a browser's) that {@link FrameOutbox} uses.
 * `_socket` is `ws`'s underlying net socket; when it is there, a batch leaves in one write.
 */
export interface OutboxSocket {
  readonly readyState: number;
  send(data: string): void;
  readonly _socket?: { cork(): void; uncork(): void } | undefined;
}

/** `WebSocket.OPEN` in every implementation. */
const OPEN = 1;

/**
 * How many queued frames are written at once, before the turn ends. A long turn (hundreds of frames
 * read in one go) would otherwise keep all it produces until its end, while the peer sits idle: in the
 * call throughput run of `bench:e2e`, a core stood idle 9% of the time, mostly in gaps of 1-16 ms while
 * the other ran one process's long turn. Writing every 64 frames (and sending every 64 script calls to
 * Redis) made call throughput higher in six of eight interleaved pairs, even in one and lower in one
 * (means 8,000/s against 7,190/s).
 */
export const EAGER_FLUSH_FRAMES = 64;

/**
 * Collects the frames a process sends to one peer during a turn of the event loop and writes them
 * together when the turn ends, or as soon as {@link EAGER_FLUSH_FRAMES} are queued: one socket write (one
 * system call) instead of one per frame, which is the largest cost of a small frame. Frames keep their
 * order; nothing is held past the current turn.
 */
export class FrameOutbox {
  #frames: string[] = [];
  /** Frames held back until another frame goes, or {@link release}: see {@link hold}. */
  #held: string[] = [];
  #heldTimer: ReturnType<typeof setTimeout> | undefined;
  #scheduled = false;

  readonly #flushAt: number;

  /**
   * `flushAt`: this many queued frames are written at once instead of at the end of the turn
   * (default {@link EAGER_FLUSH_FRAMES}).
   */
  constructor(
    private readonly socket: OutboxSocket,
    options: { flushAt?: number } = {},
  ) {
    this.#flushAt = options.flushAt ?? EAGER_FLUSH_FRAMES;
  }

  /** Queues a frame; false (and nothing queued) when the socket is not open. Held frames go first. */
  push(frame: string): boolean {
    if (this.socket.readyState !== OPEN) return false;
    if (this.#held.length > 0) this.#takeHeld();
    this.#frames.push(frame);
    if (this.#frames.length >= this.#flushAt) this.flush();
    else this.#schedule();
    return true;
  }

  /**
   * Holds a frame back, like TCP's delayed acknowledgement: it goes out just ahead of the next frame
   * pushed (in the same write), or at {@link release}, or `maxMs` after the oldest frame held now,
   * whichever comes first. For an answer that is usually followed within moments by another to the same
   * peer, so the peer reads both at once.
   */
  hold(frame: string, maxMs?: number): boolean {
    if (this.socket.readyState !== OPEN) return false;
    this.#held.push(frame);
    if (maxMs !== undefined && this.#heldTimer === undefined) {
      this.#heldTimer = setTimeout(() => this.release(), maxMs);
    }
    return true;
  }

  /** Sends the held frames (at the end of this turn, with anything else queued). */
  release(): void {
    if (this.#held.length === 0 || this.socket.readyState !== OPEN) return;
    this.#takeHeld();
    this.#schedule();
  }

  /** Frames held and not yet queued. */
  get held(): number {
    return this.#held.length;
  }

  /** Frames queued or held and not yet written. */
  get pending(): number {
    return this.#frames.length + this.#held.length;
  }

  /** Writes what is queued now (also called at the end of the turn). */
  flush(): void {
    const frames = this.#frames;
    if (frames.length === 0) return;
    this.#frames = [];
    if (this.socket.readyState !== OPEN) return;
    if (frames.length === 1) {
      this.socket.send(frames[0] as string);
      return;
    }
    // `ws` corks around each frame itself; an outer cork holds them all until the last one is queued.
    const raw = this.socket._socket;
    raw?.cork();
    for (const frame of frames) this.socket.send(frame);
    raw?.uncork();
  }

  /** Drops what is queued and held (the socket closed). */
  clear(): void {
    this.#frames = [];
    this.#held = [];
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // The flag is cleared here, not by every flush: one written early (or by a caller) leaves this
    // turn's end-of-turn write scheduled, instead of scheduling a second.
    endOfTurn(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  #takeHeld(): void {
    for (const frame of this.#held) this.#frames.push(frame);
    this.#held = [];
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
  }
}

/**
 * Runs `task` once this turn's I/O is done: `setImmediate` in Node.js; a browser has none, and its
 * sockets write each frame anyway, so a zero-delay timer serves.
 */
function endOfTurn(task: () => void): void {
  if (typeof setImmediate === "function") setImmediate(task);
  else setTimeout(task, 0);
}
