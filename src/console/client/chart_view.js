// A time-series chart on uPlot (loaded as a classic script: the global `uPlot`), fed by the
// samples route with the server doing the aggregation.

import { getJson, query, seriesPath } from "./api.js";
import { joinSeries, pointCount } from "./chart_data.js";
import * as fmt from "./format.js";

/** Line colours, in series order. */
export const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
  "#bcbd22",
];

/** Width of the value axis, subtracted from the element's width to get the plot's pixels. */
const Y_AXIS_PX = 64;

/** The plot area's width in pixels for an element (what the bucket is computed from). */
export function plotWidth(el) {
  return Math.max(100, el.clientWidth - Y_AXIS_PX - 16);
}

/**
 * Fetches each key's samples over `[from, to]`, aggregated by the server into `bucketMs`
 * buckets with `aggregation` (`raw` = no aggregation), and joins them on one time axis.
 */
export async function fetchJoined(keys, range, signal) {
  const params = { from: range.from, to: range.to };
  if (range.aggregation && range.aggregation !== "raw") {
    params.aggregation = range.aggregation;
    params.bucket_ms = range.bucketMs;
  }
  const lists = await Promise.all(
    keys.map(async (key) =>
      (await getJson(`${seriesPath(key)}/samples${query(params)}`, signal)).samples
    ),
  );
  return joinSeries(lists);
}

/** One uPlot chart in `el`; `setData` redraws, and resolves once the browser has drawn it. */
export class Chart {
  constructor(el, options = {}) {
    this.el = el;
    this.height = options.height ?? 360;
    this.compact = options.compact ?? false;
    this.onSelect = options.onSelect;
    this.plot = undefined;
    this.keys = [];
    this.drawn = undefined;
    this.observer = new ResizeObserver(() => {
      if (this.plot !== undefined) {
        this.plot.setSize({ width: Math.max(200, this.el.clientWidth), height: this.height });
      }
    });
    this.observer.observe(el);
  }

  #options(keys, units) {
    const drawn = () => {
      const done = this.drawn;
      this.drawn = undefined;
      done?.();
    };
    const select = (u) => {
      if (u.select.width < 4 || this.onSelect === undefined) return;
      const min = u.posToVal(u.select.left, "x");
      const max = u.posToVal(u.select.left + u.select.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.onSelect(Math.floor(min), Math.ceil(max));
    };
    return {
      width: Math.max(200, this.el.clientWidth),
      height: this.height,
      ms: 1,
      scales: { x: { time: true } },
      series: [
        { label: "time", value: (_u, v) => v === null ? "–" : fmt.time(v) },
        ...keys.map((key, i) => ({
          label: key,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => v === null ? "–" : `${fmt.num(v)}${units ?? ""}`,
        })),
      ],
      axes: [
        {},
        { size: Y_AXIS_PX, values: (_u, vals) => vals.map((v) => fmt.num(v)) },
      ],
      legend: { show: !this.compact },
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: { draw: [drawn], setSelect: [select] },
    };
  }

  /**
   * Shows `data` (`[xs, ys…]`) for `keys`; rebuilds the plot when the keys changed. Resolves
   * with the number of points once uPlot has drawn.
   */
  setData(keys, data, units) {
    // Resolved by the draw hook; the timeout only guards a plot that never draws (hidden).
    const drawn = new Promise((resolve) => {
      this.drawn = resolve;
      setTimeout(resolve, 2000);
    });
    const same = this.plot !== undefined && keys.length === this.keys.length &&
      keys.every((k, i) => k === this.keys[i]);
    if (same) this.plot.setData(data);
    else {
      this.plot?.destroy();
      this.keys = [...keys];
      this.plot = new uPlot(this.#options(keys, units), data, this.el);
    }
    this.el.dataset.points = String(pointCount(data));
    return drawn.then(() => pointCount(data));
  }

  /** Removes the plot (no series to show). */
  clear() {
    this.plot?.destroy();
    this.plot = undefined;
    this.keys = [];
    this.el.dataset.points = "0";
  }

  /** Removes the plot and stops watching the element's size. */
  destroy() {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }
}
