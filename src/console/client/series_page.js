// Series browser: every series (or those a label filter selects), searchable by key and label,
// with their labels as chips that narrow the filter, and links to charts.
// #/series?filter=EXPR&q=TEXT

import { ApiError, getJson, query, seriesPath } from "./api.js";
import { filterExprs } from "./chart_data.js";
import { h, replace, table } from "./dom.js";
import * as fmt from "./format.js";
import { link } from "./nav.js";

/** Series asked for per listing (the route's default page). */
const LIST_LIMIT = 1000;

function matches(series, needle) {
  if (needle === "") return true;
  const n = needle.toLowerCase();
  if (series.key.toLowerCase().includes(n)) return true;
  return Object.entries(series.labels).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(n));
}

/** Renders the series browser. */
export async function render(main, params) {
  const filterInput = h("input", {
    name: "filter",
    class: "wide",
    value: params.get("filter") ?? "",
    placeholder: "label filter: host=pi metric=(cpu,load) zone!=",
  });
  const searchInput = h("input", {
    name: "q",
    value: params.get("q") ?? "",
    placeholder: "search keys and labels",
  });
  const errorLine = h("p", { class: "error", role: "alert" });
  const summary = h("p", { class: "muted" });
  const listEl = h("div", { id: "series-list" });
  const chartSelected = h("button", { type: "button", disabled: true }, "Chart selected");
  const chartAll = h("button", { type: "button", class: "secondary" }, "Chart all shown");
  let series = [];
  let shown = [];
  const selected = new Set();

  replace(
    main,
    h("h1", {}, "Series"),
    h(
      "div",
      { class: "card" },
      h(
        "form",
        { class: "toolbar", id: "series-form" },
        h("label", {}, "Label filter", filterInput),
        h("label", {}, "Search", searchInput),
        h("button", { type: "submit" }, "Apply"),
        chartSelected,
        chartAll,
      ),
      errorLine,
      summary,
      listEl,
    ),
  );

  function updateButtons() {
    chartSelected.disabled = selected.size === 0;
    chartSelected.textContent = `Chart selected (${selected.size})`;
  }

  function addToFilter(name, value) {
    const expr = `${name}=${value}`;
    const exprs = filterExprs(filterInput.value);
    if (!exprs.includes(expr)) exprs.push(expr);
    filterInput.value = exprs.join(" ");
    void load();
  }

  async function showInfo(s, cell) {
    try {
      const i = await getJson(seriesPath(s.key));
      replace(
        cell,
        h(
          "span",
          { class: "muted" },
          `${fmt.count(i.totalSamples)} samples · ${fmt.time(i.firstTimestamp)} → ` +
            `${fmt.time(i.lastTimestamp)} · retention ` +
            (i.retentionMs === 0 ? "forever" : fmt.duration(i.retentionMs / 1000)) +
            (i.rules?.length
              ? ` · rules: ${
                i.rules.map((r) => `${r.aggregator}/${fmt.formatDuration(r.bucketMs)} → ${r.key}`)
                  .join(", ")
              }`
              : "") +
            (i.sourceKey ? ` · rollup of ${i.sourceKey}` : ""),
        ),
      );
    } catch (err) {
      replace(cell, h("span", { class: "error" }, String(err?.message ?? err)));
    }
  }

  function draw() {
    const needle = searchInput.value.trim();
    shown = series.filter((s) => matches(s, needle));
    summary.textContent = `${shown.length} of ${series.length} series` +
      (needle ? ` matching "${needle}"` : "") + (series.truncated ? " (list truncated)" : "");
    const rows = shown.map((s) => {
      const infoCell = h("td", {});
      return h(
        "tr",
        {},
        h(
          "td",
          {},
          h("input", {
            type: "checkbox",
            checked: selected.has(s.key),
            onchange: (e) => {
              if (e.target.checked) selected.add(s.key);
              else selected.delete(s.key);
              updateButtons();
            },
          }),
        ),
        h("td", { class: "key" }, h("a", { href: link("chart", { k: s.key }) }, s.key)),
        h(
          "td",
          {},
          Object.entries(s.labels).map(([k, v]) =>
            h("span", {
              class: "chip",
              title: "Add to the filter",
              onclick: () => addToFilter(k, v),
            }, `${k}=${v}`)
          ),
        ),
        infoCell,
        h(
          "td",
          {},
          h("button", {
            type: "button",
            class: "link",
            onclick: () => showInfo(s, infoCell),
          }, "info"),
        ),
      );
    });
    replace(
      listEl,
      rows.length === 0 ? h("p", { class: "muted" }, "No series.") : table(
        ["", "Key", "Labels", "", ""],
        rows,
      ),
    );
    updateButtons();
  }

  async function load() {
    errorLine.textContent = "";
    const filter = filterExprs(filterInput.value).join(" ");
    history.replaceState(null, "", link("series", { filter, q: searchInput.value.trim() }));
    try {
      const body = await getJson(`/v1/series${query({ filter, limit: LIST_LIMIT })}`);
      series = body.series;
      series.truncated = body.truncated;
      draw();
    } catch (err) {
      series = [];
      draw();
      errorLine.textContent = err instanceof ApiError && err.status === 404
        ? "This server has no time-series routes (GET /v1/series answered 404)"
        : String(err?.message ?? err);
    }
  }

  main.querySelector("#series-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void load();
  });
  searchInput.addEventListener("input", draw);
  chartSelected.addEventListener("click", () => {
    location.hash = link("chart", { k: [...selected] });
  });
  chartAll.addEventListener("click", () => {
    location.hash = link("chart", { k: shown.slice(0, 20).map((s) => s.key) });
  });
  await load();
}
