/**
 * The coordinator's history samples as chart data: uPlot takes parallel arrays, times in seconds first,
 * then one array per series. A node missing from a sample (not yet joined, or gone) is a gap (null).
 */
import type { FleetHistory, FleetSample } from "@flotilla/client";

export type ChartData = [number[], ...(number | null)[][]];

/** One node's charts. */
export interface NodeCharts {
  load: ChartData;
  memory: ChartData;
}

/** One node's load per core and share of memory used. */
export function nodeSeries(history: FleetHistory, nodeId: string): NodeCharts {
  const times = history.samples.map((sample) => sample.at / 1000);
  const load = history.samples.map((sample) => sample.nodes[nodeId]?.loadPerCore ?? null);
  const memory = history.samples.map((sample) => sample.nodes[nodeId]?.memoryUsed ?? null);
  return { load: [times, load], memory: [times, memory] };
}

/** Fleet-wide series, one value per sample. */
export function fleetSeries(history: FleetHistory, ...pick: ((fleet: FleetSample) => number)[]): ChartData {
  return [
    history.samples.map((sample) => sample.at / 1000),
    ...pick.map((read) => history.samples.map((sample) => read(sample.fleet))),
  ];
}

/** Tasks not yet leased, all priorities together. */
export function queuedTotal(fleet: FleetSample): number {
  return Object.values(fleet.queued).reduce((sum, count) => sum + count, 0);
}
