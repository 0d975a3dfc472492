/**
 * Coalesces changes into renders: however many events arrive, listeners run at most once per animation
 * frame and no more often than every `minIntervalMs`, so a burst of thousands of task events costs one
 * render, not thousands.
 */
export class RenderBatch {
  #scheduled = false;
  #last = 0;
  readonly #listeners = new Set<() => void>();

  constructor(private readonly minIntervalMs = 200) {}

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Something changed: a render follows soon. */
  mark(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const wait = Math.max(0, this.#last + this.minIntervalMs - performance.now());
    setTimeout(() => requestAnimationFrame(() => this.#flush()), wait);
  }

  #flush(): void {
    this.#scheduled = false;
    this.#last = performance.now();
    for (const listener of this.#listeners) listener();
  }
}
