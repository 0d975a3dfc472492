/**
 * A small time-series chart over uPlot. The plot is made when the chart first scrolls into view and fed
 * new data with `setData` only while visible: a page of 200 node cards then draws the few charts on
 * screen, not 400 canvases at each history read.
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
  const latest = useRef(data);
  const shown = useRef<ChartData | undefined>(undefined);
  const visible = useRef(false);
  const redraw = useRef<(() => void) | undefined>(undefined);
  latest.current = data;
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const options: uPlot.Options = {
      width,
      height,
      legend: { show: labels.length > 1, live: false },
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
    const draw = () => {
      if (shown.current === latest.current) return;
      shown.current = latest.current;
      if (plot.current) plot.current.setData(latest.current as uPlot.AlignedData);
      else plot.current = new uPlot(options, latest.current as uPlot.AlignedData, element);
    };
    const observer = new IntersectionObserver((entries) => {
      visible.current = entries.some((entry) => entry.isIntersecting);
      if (visible.current) draw();
    });
    observer.observe(element);
    redraw.current = draw;
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = undefined;
      shown.current = undefined;
    };
  }, [labels.join(","), width, height]);
  // New data (a history read) is drawn now if the chart is on screen, else when it scrolls into view.
  useEffect(() => {
    if (visible.current) redraw.current?.();
  }, [data]);
  return <div class="chart" ref={host} style={{ width: `${width}px`, minHeight: `${height}px` }} />;
}
