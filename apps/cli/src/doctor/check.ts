/** One line of `flotilla doctor`: what was checked, how it went, what was found and what to do about it. */
export interface Check {
  check: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  /** What to do; empty when there is nothing to do. */
  fix: string;
}

/** A check that passed. */
export const ok = (check: string, detail: string): Check => ({ check, status: "ok", detail, fix: "" });
/** A check that found something worth fixing but not broken. */
export const warn = (check: string, detail: string, fix: string): Check => ({
  check,
  status: "warn",
  detail,
  fix,
});
/** A check that found something broken. */
export const fail = (check: string, detail: string, fix: string): Check => ({
  check,
  status: "fail",
  detail,
  fix,
});

/** The message of anything thrown. */
export const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Rejects with `what timed out` when `promise` takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
