// Chart page: one or several series (by key, or every series a label filter selects) on one
// chart, with a range picker, aggregation and bucket, live tail, drag-to-zoom and CSV.
// #/chart?k=KEY&k=KEY2&filter=EXPR&range=1h&from=MS&to=MS&agg=avg&bucket=auto&live=1&every=5s

import { getJson, query } from "./api.js";
import { alignRange, autoBucketMs, filterExprs, safeFileName, toCsv } from "./chart_data.js";
import { Chart, fetchJoined, plotWidth } from "./chart_view.js";
import { download, h, replace } from "./dom.js";
import * as fmt from "./format.js";
import { link } from "./nav.js";

/** Ranges offered by the picker. */
export const RANGES = ["5m", "15m", "1h", "6h", "24h", "7d", "30d", "90d"];
/** Aggregations of the samples route (`raw` = none). */
export const AGGREGATIONS = [
  "avg",
  "min",
  "max",
  "sum",
  "count",
  "first",
  "last",
  "range",
  "std.p",
  "var.p",
  "twa",
  "raw",
];
const BUCKETS = ["auto", "1s", "10s", "1m", "5m", "15m", "1h", "1d"];
const LIVE_EVERY = ["2s", "5s", "10s", "30s", "1m"];
/** Most series drawn on one chart. */
export const SERIES_PER_CHART_MAX = 20;

function select(name, options, value, label) {
  return h(
    "label",
    {},
    label,
    h(
      "select",
      { name },
      options.map((o) => h("option", { value: o, selected: o === value }, o)),
    ),
  );
}

/** Renders the chart page; returns the cleanup that stops the live timer. */
export async function render(main, params) {
  const state = {
    keys: params.getAll("k"),
    filter: params.get("filter") ?? "",
    range: params.get("range") ?? "1h",
    from: Number(params.get("from") ?? NaN),
    to: Number(params.get("to") ?? NaN),
    agg: params.get("agg") ?? "avg",
    bucket: params.get("bucket") ?? "auto",
    live: params.get("live") === "1",
    every: params.get("every") ?? "5s",
  };
  if (!RANGES.includes(state.range)) state.range = "1h";
  if (!AGGREGATIONS.includes(state.agg)) state.agg = "avg";
  const zoomed = () => Number.isFinite(state.from) && Number.isFinite(state.to);

  const status = h("div", { class: "chart-status", id: "chart-status" });
  const errorLine = h("p", { class: "error", role: "alert" });
  const chartEl = h("div", { class: "chart chart-main", id: "chart" });
  const keysLine = h("div", {});
  const keyInput = h("input", { name: "key", placeholder: "series key", class: "wide" });
  const filterInput = h("input", {
    name: "filter",
    value: state.filter,
    placeholder: "label filter, e.g. host=pi metric=cpu_used_percent",
    class: "wide",
  });
  const liveBox = h("input", { type: "checkbox", name: "live", checked: state.live });
  const toolbar = h(
    "form",
    { class: "toolbar", id: "chart-controls" },
    select("range", RANGES, state.range, "Range"),
    select("agg", AGGREGATIONS, state.agg, "Aggregation"),
    select("bucket", BUCKETS, state.bucket, "Bucket"),
    h("label", { class: "inline" }, liveBox, "Live"),
    select("every", LIVE_EVERY, state.every, "Every"),
    h("button", { type: "submit" }, "Refresh"),
    h(
      "button",
      { type: "button", class: "secondary", id: "reset-zoom", onclick: resetZoom },
      "Reset zoom",
    ),
    h("button", { type: "button", class: "secondary", id: "csv", onclick: csv }, "Download CSV"),
  );
  replace(
    main,
    h("h1", {}, "Chart"),
    h(
      "div",
      { class: "card" },
      h(
        "form",
        { class: "toolbar", onsubmit: addKey },
        h("label", {}, "Add a series", keyInput),
        h("button", { type: "submit", class: "secondary" }, "Add"),
        h("label", {}, "…or every series matching", filterInput),
        h("button", { type: "button", class: "secondary", onclick: applyFilter }, "Apply filter"),
      ),
      keysLine,
      toolbar,
      errorLine,
      chartEl,
      status,
    ),
  );

  const chart = new Chart(chartEl, { onSelect: zoomTo });
  let keys = [];
  let data = [[]];
  let inFlight;
  let timer;

  function saveHash() {
    const p = {
      k: state.keys,
      filter: state.filter,
      range: zoomed() ? undefined : state.range,
      from: zoomed() ? state.from : undefined,
      to: zoomed() ? state.to : undefined,
      agg: state.agg === "avg" ? undefined : state.agg,
      bucket: state.bucket === "auto" ? undefined : state.bucket,
      live: state.live ? "1" : undefined,
      every: state.every === "5s" ? undefined : state.every,
    };
    history.replaceState(null, "", link("chart", p));
  }

  function drawKeys() {
    replace(
      keysLine,
      keys.length === 0 ? h("span", { class: "muted" }, "No series yet.") : keys.map((k) =>
        h(
          "span",
          { class: "chip", title: "Remove", onclick: () => removeKey(k) },
          k,
          " ×",
        )
      ),
    );
  }

  async function resolveKeys() {
    const exprs = filterExprs(state.filter);
    let found = [];
    if (exprs.length > 0) {
      const body = await getJson(`/v1/series${query({ filter: exprs.join(" "), limit: 1000 })}`);
      found = body.series.map((s) => s.key);
    }
    const all = [...new Set([...state.keys, ...found])];
    if (all.length > SERIES_PER_CHART_MAX) {
      errorLine.textContent = `Showing the first ${SERIES_PER_CHART_MAX} of ${all.length} series`;
    }
    keys = all.slice(0, SERIES_PER_CHART_MAX);
    drawKeys();
  }

  function currentRange() {
    const to = zoomed() ? state.to : Date.now();
    const from = zoomed() ? state.from : to - fmt.parseDuration(state.range);
    const bucketMs = state.bucket === "auto"
      ? autoBucketMs(from, to, plotWidth(chartEl))
      : fmt.parseDuration(state.bucket);
    const aligned = state.agg === "raw" ? { from, to } : alignRange(from, to, bucketMs);
    return { ...aligned, bucketMs, aggregation: state.agg };
  }

  async function load() {
    if (keys.length === 0) {
      chart.clear();
      data = [[]];
      status.textContent = "Pick series on the Series page, or add a key or a label filter.";
      return;
    }
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    const range = currentRange();
    const t0 = performance.now();
    try {
      data = await fetchJoined(keys, range, controller.signal);
      const fetchedMs = performance.now() - t0;
      const points = await chart.setData(keys, data);
      const renderMs = performance.now() - t0;
      chartEl.dataset.renderMs = renderMs.toFixed(1);
      chartEl.dataset.renders = String(Number(chartEl.dataset.renders ?? 0) + 1);
      chartEl.dataset.bucketMs = String(range.bucketMs);
      errorLine.textContent = errorLine.textContent.startsWith("Showing")
        ? errorLine.textContent
        : "";
      status.textContent = `${keys.length} series · ${fmt.count(points)} points · ` +
        `${fmt.time(range.from)} → ${fmt.time(range.to)} · ` +
        (state.agg === "raw"
          ? "raw samples"
          : `${state.agg} per ${fmt.formatDuration(range.bucketMs)}`) +
        ` · fetched in ${fmt.latencyMs(fetchedMs)}, drawn in ${fmt.latencyMs(renderMs)}`;
    } catch (err) {
      if (err?.name === "AbortError") return;
      errorLine.textContent = String(err?.message ?? err);
    } finally {
      if (inFlight === controller) inFlight = undefined;
    }
  }

  function restartTimer() {
    clearInterval(timer);
    timer = undefined;
    if (state.live && !zoomed()) {
      timer = setInterval(() => {
        if (!document.hidden && inFlight === undefined) void load();
      }, Math.max(1000, fmt.parseDuration(state.every)));
    }
  }

  function readControls() {
    const f = new FormData(toolbar);
    state.range = f.get("range");
    state.agg = f.get("agg");
    state.bucket = f.get("bucket");
    state.every = f.get("every");
    state.live = liveBox.checked;
  }

  function changed() {
    readControls();
    if (state.live) {
      state.from = NaN;
      state.to = NaN;
    }
    saveHash();
    restartTimer();
    void load();
  }

  function zoomTo(from, to) {
    state.from = from;
    state.to = to;
    state.live = false;
    liveBox.checked = false;
    saveHash();
    restartTimer();
    void load();
  }

  function resetZoom() {
    state.from = NaN;
    state.to = NaN;
    saveHash();
    restartTimer();
    void load();
  }

  function csv() {
    const range = currentRange();
    download(
      `${
        safeFileName(keys.length === 1 ? keys[0] : "cityhall-series")
      }-${range.from}-${range.to}.csv`,
      toCsv(keys, data),
      "text/csv",
    );
  }

  async function addKey(event) {
    event.preventDefault();
    const key = keyInput.value;
    if (key === "" || state.keys.includes(key)) return;
    state.keys.push(key);
    keyInput.value = "";
    saveHash();
    await resolveKeys();
    await load();
  }

  async function applyFilter() {
    state.filter = filterInput.value.trim();
    saveHash();
    errorLine.textContent = "";
    try {
      await resolveKeys();
      await load();
    } catch (err) {
      errorLine.textContent = String(err?.message ?? err);
    }
  }

  async function removeKey(key) {
    state.keys = state.keys.filter((k) => k !== key);
    keys = keys.filter((k) => k !== key);
    saveHash();
    drawKeys();
    await load();
  }

  toolbar.addEventListener("change", changed);
  toolbar.addEventListener("submit", (event) => {
    event.preventDefault();
    changed();
  });

  try {
    await resolveKeys();
  } catch (err) {
    errorLine.textContent = String(err?.message ?? err);
  }
  restartTimer();
  void load();
  return () => {
    clearInterval(timer);
    inFlight?.abort();
    chart.destroy();
  };
}
