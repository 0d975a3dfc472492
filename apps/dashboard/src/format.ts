/** Small formatting helpers shared by the views. */

/** `1.2 s`, `3 m 05 s`, `2 h 10 m`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${String(seconds % 60).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} m`;
}

/** How long ago `at` was, from `now`. */
export function ago(at: number | undefined, now = Date.now()): string {
  return at === undefined || at === 0 ? "—" : `${duration(now - at)} ago`;
}

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString();
}

export function bytes(count: number): string {
  if (count <= 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}
