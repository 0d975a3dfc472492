/**
 * A small time-series chart over uPlot. The plot is made once per mount and fed new data with `setData`,
 * which is cheap enough for every render batch.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import type { ChartData } from "./history.js";

export interface ChartProps {
  data: ChartData;
  labels: readonly string[];
  height?: number;
  width?: number;
  /** Fixed y range, e.g. [0, 1] for a share. */
  range?: [number, number];
}

const COLORS = ["#2f7ed8", "#e4572e", "#17a673", "#b07aa1", "#f2b701"];

export function Chart({ data, labels, height = 80, width = 260, range }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    if (!host.current) return;
    const options: uPlot.Options = {
      width,
      height,
      legend: { show: labels.length > 1 },
      cursor: { show: false },
      scales: {
        x: { time: true },
        y: range ? { range } : { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        { show: false },
        {
          size: 36,
          stroke: "currentColor",
          grid: { stroke: "rgba(128,128,128,0.2)" },
          ticks: { show: false },
        },
      ],
      series: [
        {},
        ...labels.map((label, index) => ({
          label,
          stroke: COLORS[index % COLORS.length] ?? "#888",
          width: 1.5,
        })),
      ],
    };
    plot.current = new uPlot(options, data as uPlot.AlignedData, host.current);
    return () => plot.current?.destroy();
  }, [labels.join(","), width, height]);
  // Redrawn only when the data is new (a history read), not on every render of the page.
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  return <div class="chart" ref={host} />;
}
