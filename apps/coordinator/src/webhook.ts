/**
 * Sends alert changes to the operator's webhook: each one POSTed as JSON, tried again with exponential
 * backoff and full jitter (the client's `fullJitterDelay`) on a network error or a 5xx/429 answer, up to
 * `attempts` tries; a 4xx answer is final. Sends do not hold up the evaluation, and `close()` drops the
 * retries still waiting (a coordinator that stops). `AlertWebhook` owns nothing else.
 */
import { type BackoffOptions, fullJitterDelay } from "@flotilla/client";
import type { Logger } from "pino";
import type { CoordinatorMetrics } from "./metrics.js";

/** How an {@link AlertWebhook} sends and retries. */
export interface WebhookOptions {
  random: () => number;
  log: Logger;
  metrics: CoordinatorMetrics;
  /** Tries per alert change, the first included (default 6). */
  attempts?: number;
  /** The backoff between tries (default 500 ms doubling up to 30 s). */
  backoff?: BackoffOptions;
  /** How long one POST may take, ms (default 10 s). */
  timeoutMs?: number;
}

/** POSTs alert changes to one URL. */
export class AlertWebhook {
  private readonly abort = new AbortController();
  private readonly attempts: number;
  private readonly backoff: BackoffOptions;
  private readonly timeoutMs: number;

  constructor(
    private readonly url: string,
    private readonly options: WebhookOptions,
  ) {
    this.attempts = options.attempts ?? 6;
    this.backoff = options.backoff ?? { baseMs: 500, maxMs: 30_000 };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Sends `body` in the background, retrying as the module header says. */
  send(body: Record<string, unknown>): void {
    this.deliver(JSON.stringify(body)).then(
      (outcome) => this.options.metrics.webhookSends.inc({ outcome }),
      () => this.options.metrics.webhookSends.inc({ outcome: "failed" }),
    );
  }

  /** Drops the retries still waiting. */
  close(): void {
    this.abort.abort();
  }

  private async deliver(json: string): Promise<"delivered" | "failed" | "refused"> {
    const signal = this.abort.signal;
    for (let attempt = 0; attempt < this.attempts && !signal.aborted; attempt += 1) {
      if (attempt > 0 && !(await this.pause(fullJitterDelay(attempt - 1, this.backoff, this.options.random))))
        break;
      let why: string;
      try {
        const answer = await fetch(this.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: json,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        });
        await answer.body?.cancel();
        if (answer.ok) return "delivered";
        if (answer.status < 500 && answer.status !== 429) {
          this.options.log.warn({ status: answer.status }, "alert webhook refused the alert; not retried");
          return "refused";
        }
        why = `HTTP ${answer.status}`;
      } catch (error) {
        why = error instanceof Error ? error.message : String(error);
      }
      this.options.log.warn({ attempt: attempt + 1, why }, "alert webhook failed; retrying with backoff");
    }
    return "failed";
  }

  /** Waits `ms`; false when closed meanwhile. */
  private pause(ms: number): Promise<boolean> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", stop);
        resolve(true);
      }, ms);
      timer.unref();
      const stop = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener("abort", stop, { once: true });
    });
  }
}
