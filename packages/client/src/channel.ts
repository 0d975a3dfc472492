/**
 * A push-to-pull bridge: producers `push` values, one consumer reads them with `for await`. Values are
 * buffered until read, so nothing pushed before the consumer starts is lost.
 */
export class Channel<T> implements AsyncIterable<T> {
  readonly #buffer: T[] = [];
  #waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;
  #state: { kind: "open" } | { kind: "ended" } | { kind: "failed"; error: unknown } = { kind: "open" };
  readonly #onClose: () => void;
  #iterating = false;

  /** @param onClose called once when the channel ends, fails, or the consumer stops early. */
  constructor(onClose: () => void = () => {}) {
    this.#onClose = onClose;
  }

  /** Whether the channel still accepts values. */
  get open(): boolean {
    return this.#state.kind === "open";
  }

  /** Queues a value for the consumer; ignored once the channel has closed. */
  push(value: T): void {
    if (this.#state.kind !== "open") return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting.resolve({ value, done: false });
    } else {
      this.#buffer.push(value);
    }
  }

  /** Ends the stream after the buffered values have been read. */
  end(): void {
    this.#close({ kind: "ended" });
  }

  /** Fails the stream: the consumer gets `error` after the buffered values. */
  fail(error: unknown): void {
    this.#close({ kind: "failed", error });
  }

  #close(state: { kind: "ended" } | { kind: "failed"; error: unknown }): void {
    if (this.#state.kind !== "open") return;
    this.#state = state;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) {
      if (state.kind === "failed") waiting.reject(state.error);
      else waiting.resolve({ value: undefined, done: true });
    }
    this.#onClose();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    // One reader only: two readers would silently split the values between them.
    if (this.#iterating) throw new Error("this stream can be iterated only once");
    this.#iterating = true;
    return {
      next: () => {
        if (this.#buffer.length > 0) {
          return Promise.resolve({ value: this.#buffer.shift() as T, done: false });
        }
        if (this.#state.kind === "ended") return Promise.resolve({ value: undefined, done: true });
        if (this.#state.kind === "failed") return Promise.reject(this.#state.error);
        return new Promise((resolve, reject) => {
          this.#waiting = { resolve, reject };
        });
      },
      return: () => {
        this.#buffer.length = 0;
        this.#close({ kind: "ended" });
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
