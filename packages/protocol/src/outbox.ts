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
 * Collects the frames a process sends to one peer during a turn of the event loop and writes them
 * together when the turn ends: one socket write (one system call) instead of one per frame, which is
 * the largest cost of a small frame. Frames keep their order; nothing is held past the current turn.
 */
export class FrameOutbox {
  #frames: string[] = [];
  #scheduled = false;

  constructor(private readonly socket: OutboxSocket) {}

  /** Queues a frame; false (and nothing queued) when the socket is not open. */
  push(frame: string): boolean {
    if (this.socket.readyState !== OPEN) return false;
    this.#frames.push(frame);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Frames queued and not yet written. */
  get pending(): number {
    return this.#frames.length;
  }

  /** Writes what is queued now (also called at the end of the turn). */
  flush(): void {
    this.#scheduled = false;
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

  /** Drops what is queued (the socket closed). */
  clear(): void {
    this.#frames = [];
  }
}
