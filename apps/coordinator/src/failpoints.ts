/**
 * Failpoints: named places in the coordinator where a test can make the process die, to prove that what a
 * crash at exactly that step leaves in Redis is picked up again at the next start. One is enabled by the
 * environment (`FLOTILLA_FAILPOINT=<name>`), read once when this module loads; with none set (the
 * default) `failpoint` is a lookup of one string and does nothing. `declare-dead` sits inside
 * `FailureDetector.declareDead` after the node was marked offline and the first of its lost leases was
 * requeued, before its queue is moved and before it leaves `agents:active`: the most damaging place,
 * since some of its work has moved and some has not, and it is the step where the order that removed the
 * node from `agents:active` first lost the rest (recovery then never looked at that node again).
 */

/** The places a failpoint can be set. */
export type FailpointName = "declare-dead";

const enabled: string | undefined = process.env.FLOTILLA_FAILPOINT || undefined;

/** Kills the process at once (no cleanup, as a `kill -9` would) when `name` is the failpoint enabled. */
export function failpoint(name: FailpointName): void {
  if (enabled !== name) return;
  process.stderr.write(`failpoint ${name} hit: killing the process\n`);
  process.kill(process.pid, "SIGKILL");
}
