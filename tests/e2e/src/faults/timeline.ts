/**
 * Reading a scenario's timeline: the fleet events heard on `agents:events` and each task's stored events.
 * It owns the checks and figures that need both, a lease to a node that was dead or whose breaker was
 * open, and how long the coordinator took to detect a death and to requeue the dead node's work.
 */

/** A fleet event as published on `agents:events`. */
export interface FleetEvent {
  type: string;
  node: string;
  at: number;
  from?: string;
  to?: string;
}

/** A stored task state change (`task:{id}:events`). */
export interface TaskEvent {
  taskId: string;
  state: string;
  at: number;
  node?: string;
  reason?: string;
  epoch?: number;
}

/** Leases to a node while it was dead, or while its breaker was open (a half-open probe is fine). */
export function leasesToUnavailableNodes(
  fleetEvents: readonly FleetEvent[],
  taskEvents: ReadonlyMap<string, TaskEvent[]>,
): string[] {
  const violations: string[] = [];
  const windows = unavailableWindows(fleetEvents);
  for (const [id, events] of taskEvents) {
    for (const event of events) {
      if (event.state !== "leased" || event.node === undefined) continue;
      for (const window of windows.get(event.node) ?? []) {
        if (event.at > window.from && event.at < window.to) {
          violations.push(`${id} leased to ${event.node} at ${event.at} while ${window.why}`);
        }
      }
    }
  }
  return violations;
}

/** From the fault to the node's death (`detect_ms`), and from each death to its last requeue. */
export function faultTiming(
  fleetEvents: readonly FleetEvent[],
  taskEvents: ReadonlyMap<string, TaskEvent[]>,
  faultTimes: readonly number[],
): { detectMs: number | null; requeueMs: number | null } {
  const deaths = fleetEvents.filter((event) => event.type === "node.dead");
  let detectMs: number | null = null;
  let requeueMs: number | null = null;
  for (const death of deaths) {
    const faultAt = [...faultTimes].reverse().find((at) => at <= death.at);
    if (faultAt !== undefined) detectMs = Math.max(detectMs ?? 0, death.at - faultAt);
  }
  // Each requeue is timed from the latest death of its node before it.
  for (const events of taskEvents.values()) {
    for (const event of events) {
      const node = /node (\S+) died/.exec(event.reason ?? "")?.[1];
      if (node === undefined) continue;
      const death = deaths.filter((candidate) => candidate.node === node && candidate.at <= event.at).at(-1);
      if (death) requeueMs = Math.max(requeueMs ?? 0, event.at - death.at);
    }
  }
  return { detectMs, requeueMs };
}

/** Per node, the spans during which it must not receive work: dead, or breaker open. */
function unavailableWindows(
  fleetEvents: readonly FleetEvent[],
): Map<string, { from: number; to: number; why: string }[]> {
  const windows = new Map<string, { from: number; to: number; why: string }[]>();
  const add = (node: string, window: { from: number; to: number; why: string }): void => {
    const list = windows.get(node) ?? [];
    list.push(window);
    windows.set(node, list);
  };
  const byNode = new Map<string, FleetEvent[]>();
  for (const event of fleetEvents) byNode.set(event.node, [...(byNode.get(event.node) ?? []), event]);
  for (const [node, events] of byNode) {
    events.forEach((event, index) => {
      const later = events.slice(index + 1);
      if (event.type === "node.dead") {
        const back = later.find((next) => next.type === "node.rejoined" || next.type === "node.joined");
        add(node, { from: event.at, to: back?.at ?? Number.POSITIVE_INFINITY, why: "dead" });
      }
      if (event.type === "node.breaker" && event.to === "open") {
        const next = later.find((candidate) => candidate.type === "node.breaker");
        add(node, { from: event.at, to: next?.at ?? Number.POSITIVE_INFINITY, why: "breaker open" });
      }
    });
  }
  return windows;
}
