// Server health: rates and latencies computed from two scrapes of /v1/stats and /metrics two
// seconds apart, engine state (memtable, compactions, disk, WAL), small live charts of this
// session, and the host's charts when the agent (serve --self-metrics) records them.

import { ApiError, getJson, getText, query } from "./api.js";
import { autoBucketMs } from "./chart_data.js";
import { Chart, fetchJoined, plotWidth } from "./chart_view.js";
import { h, replace, stat } from "./dom.js";
import * as fmt from "./format.js";
import { histogram, histogramDelta, parseMetrics, quantile } from "./metrics_text.js";
import { link } from "./nav.js";

/** Poll period of the health numbers. */
const POLL_MS = 2000;
/** Points kept for the session charts (5 minutes at 2 s). */
const HISTORY_POINTS = 150;
/** Host charts: the agent's metric name, a title, and the unit shown. */
export const HOST_CHARTS = [
  ["cpu_used_percent", "CPU used (%)"],
  ["load1", "Load (1 min)"],
  ["mem_used_percent", "Memory used (%)"],
  ["temp_celsius", "Temperature (°C)"],
  ["disk_used_percent", "Disk used (%)"],
  ["net_rx_bytes_per_s", "Network received (B/s)"],
  ["net_tx_bytes_per_s", "Network sent (B/s)"],
  ["cityhall_ops_per_s", "CityHall operations/s"],
];
const HOST_RANGE_MS = 3600_000;
const HOST_REFRESH_MS = 30_000;

function rate(now, before, dtS) {
  return before === undefined || dtS <= 0 ? NaN : Math.max(0, now - before) / dtS;
}

/** Renders the health page; returns the cleanup that stops polling. */
export async function render(main) {
  const tiles = h("div", { class: "grid", id: "health-tiles" });
  const errorLine = h("p", { class: "error", role: "alert" });
  const opsChartEl = h("div", { class: "chart", id: "ops-chart" });
  const latChartEl = h("div", { class: "chart", id: "latency-chart" });
  const hostCard = h("div", { class: "card", id: "host-card" });
  replace(
    main,
    h("h1", {}, "Server health"),
    errorLine,
    tiles,
    h(
      "div",
      { class: "card" },
      h("h2", {}, "This session"),
      h(
        "div",
        { class: "charts" },
        h("div", {}, h("div", { class: "muted" }, "Operations/s (RESP + HTTP)"), opsChartEl),
        h("div", {}, h("div", { class: "muted" }, "RESP latency p50 / p99 (ms)"), latChartEl),
      ),
    ),
    hostCard,
  );
  const opsChart = new Chart(opsChartEl, { height: 160, compact: true });
  const latChart = new Chart(latChartEl, { height: 160, compact: true });
  const history = { t: [], ops: [], p50: [], p99: [] };
  let previous;
  let hostTimer;
  const hostCharts = [];

  async function poll() {
    try {
      const [stats, metricsText] = await Promise.all([getJson("/v1/stats"), getText("/metrics")]);
      const nowMs = Date.now();
      const samples = parseMetrics(metricsText);
      const cmdHist = histogram(samples, "cityhall_command_duration_seconds");
      const httpHist = histogram(samples, "cityhall_http_request_duration_seconds");
      const commands = Object.values(stats.server?.commands ?? {}).reduce((a, b) => a + b, 0);
      const cur = { nowMs, stats, commands, cmdHist, httpHist };
      const dtS = previous === undefined ? 0 : (nowMs - previous.nowMs) / 1000;
      const p = previous;
      const respOps = rate(commands, p?.commands, dtS);
      const httpOps = rate(stats.server?.httpRequests ?? 0, p?.stats.server?.httpRequests, dtS);
      const reads = rate(stats.gets, p?.stats.gets, dtS);
      const writes = rate(stats.puts + stats.deletes, p && p.stats.puts + p.stats.deletes, dtS);
      const cmdRecent = histogramDelta(cmdHist, p?.cmdHist);
      const httpRecent = histogramDelta(httpHist, p?.httpHist);
      const p50 = quantile(cmdRecent, 0.5) * 1000;
      const p99 = quantile(cmdRecent, 0.99) * 1000;
      const hp50 = quantile(httpRecent, 0.5) * 1000;
      const hp99 = quantile(httpRecent, 0.99) * 1000;
      const hits = stats.blockCacheHits;
      const misses = stats.blockCacheMisses;
      const compactRead = rate(stats.compactionBytesRead, p?.stats.compactionBytesRead, dtS);
      const compactWrite = rate(stats.compactionBytesWritten, p?.stats.compactionBytesWritten, dtS);
      replace(
        tiles,
        stat(
          "Operations/s",
          fmt.num((respOps || 0) + (httpOps || 0)),
          `RESP ${fmt.num(respOps)} · HTTP ${fmt.num(httpOps)}`,
        ),
        stat(
          "Reads / writes per s",
          `${fmt.num(reads)} / ${fmt.num(writes)}`,
          "engine gets / puts+deletes",
        ),
        stat(
          "RESP latency p50 / p99",
          `${fmt.latencyMs(p50)} / ${fmt.latencyMs(p99)}`,
          `${fmt.count(cmdRecent.count)} commands in the last ${fmt.duration(dtS)}`,
        ),
        stat(
          "HTTP latency p50 / p99",
          `${fmt.latencyMs(hp50)} / ${fmt.latencyMs(hp99)}`,
          `${fmt.count(httpRecent.count)} requests`,
        ),
        stat(
          "Memtable",
          fmt.bytes(stats.memtableSizeBytes),
          `${
            fmt.count(stats.memtableEntries)
          } entries · ${stats.immutableMemtables} waiting to flush`,
        ),
        stat(
          "Compactions",
          fmt.count(stats.compactions),
          `${fmt.count(stats.flushes)} flushes · now ${fmt.bytes(compactRead)}/s read, ${
            fmt.bytes(compactWrite)
          }/s written`,
        ),
        stat(
          "Disk: SSTables",
          fmt.bytes(stats.sstableSizeBytes),
          `${fmt.count(stats.sstableEntries)} entries · ` +
            (stats.tablesPerLevel.length === 0
              ? "no tables yet"
              : `tables per level ${stats.tablesPerLevel.join(" / ")}`),
        ),
        stat(
          "WAL",
          fmt.bytes(stats.walSizeBytes),
          `${stats.walSegments} segments · seq ${fmt.count(stats.lastSeq)}, flushed ${
            fmt.count(stats.flushedSeq)
          }`,
        ),
        stat(
          "Block cache hit ratio",
          hits + misses === 0 ? "–" : `${((100 * hits) / (hits + misses)).toFixed(1)}%`,
          `${fmt.count(hits)} hits · ${fmt.count(misses)} misses`,
        ),
        stat(
          "Engine",
          stats.fatalError ? "failed" : "ok",
          stats.fatalError
            ? stats.fatalError
            : `up ${
              fmt.duration((stats.server?.uptimeMs ?? 0) / 1000)
            } · v${stats.server?.version}`,
          stats.fatalError ? "bad" : "ok",
        ),
        stat("Clients", fmt.count(stats.server?.connectedClients ?? NaN), "RESP connections"),
      );
      if (previous !== undefined) {
        history.t.push(nowMs);
        history.ops.push((respOps || 0) + (httpOps || 0));
        history.p50.push(Number.isFinite(p50) ? p50 : null);
        history.p99.push(Number.isFinite(p99) ? p99 : null);
        if (history.t.length > HISTORY_POINTS) {
          for (const a of Object.values(history)) a.shift();
        }
        void opsChart.setData(["ops/s"], [history.t, history.ops]);
        void latChart.setData(["p50 ms", "p99 ms"], [history.t, history.p50, history.p99]);
      }
      previous = cur;
      errorLine.textContent = "";
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        errorLine.textContent = String(err?.message ?? err);
      }
    }
  }

  async function drawHost() {
    let list;
    try {
      list =
        (await getJson(`/v1/series${query({ filter: "agent=cityhall rollup=", limit: 1000 })}`))
          .series;
    } catch (err) {
      replace(
        hostCard,
        h("h2", {}, "This host"),
        h(
          "p",
          { class: "muted" },
          err instanceof ApiError && err.status === 404
            ? "This server has no time-series routes, so it cannot record its host's health."
            : String(err?.message ?? err),
        ),
      );
      return false;
    }
    if (list.length === 0) {
      replace(
        hostCard,
        h("h2", {}, "This host"),
        h(
          "p",
          { class: "muted" },
          "No host metrics yet. Start the server with --self-metrics to record CPU, memory, " +
            "disk, network and temperature every 10 s.",
        ),
      );
      return false;
    }
    const byMetric = new Map();
    for (const s of list) {
      const m = s.labels.metric;
      if (!byMetric.has(m)) byMetric.set(m, []);
      byMetric.get(m).push(s.key);
    }
    const grid = h("div", { class: "charts" });
    replace(
      hostCard,
      h("h2", {}, "This host (last hour)"),
      h(
        "p",
        { class: "muted" },
        "Recorded by serve --self-metrics. ",
        h("a", { href: link("series", { filter: "agent=cityhall rollup=" }) }, "All host series"),
      ),
      grid,
    );
    for (const [metric, title] of HOST_CHARTS) {
      const keys = byMetric.get(metric);
      if (keys === undefined) continue;
      const el = h("div", { class: "chart" });
      grid.append(
        h(
          "div",
          {},
          h("a", { href: link("chart", { k: keys.slice(0, 20), range: "24h" }) }, title),
          el,
        ),
      );
      hostCharts.push({
        keys: keys.slice(0, 20),
        chart: new Chart(el, { height: 160, compact: true }),
        el,
      });
    }
    return true;
  }

  async function refreshHost() {
    const to = Date.now();
    const from = to - HOST_RANGE_MS;
    for (const c of hostCharts) {
      try {
        const bucketMs = autoBucketMs(from, to, plotWidth(c.el));
        const data = await fetchJoined(c.keys, { from, to, aggregation: "avg", bucketMs });
        await c.chart.setData(c.keys, data);
      } catch {
        // A chart that fails stays empty; the numbers above still update.
      }
    }
  }

  await poll();
  const timer = setInterval(() => {
    if (!document.hidden) void poll();
  }, POLL_MS);
  if (await drawHost()) {
    await refreshHost();
    hostTimer = setInterval(() => {
      if (!document.hidden) void refreshHost();
    }, HOST_REFRESH_MS);
  }
  return () => {
    clearInterval(timer);
    clearInterval(hostTimer);
    opsChart.destroy();
    latChart.destroy();
    for (const c of hostCharts) c.chart.destroy();
  };
}
