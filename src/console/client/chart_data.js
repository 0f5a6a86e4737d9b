// Pure data work behind the charts (no DOM: the Deno tests import this file directly): the
// bucket that makes the server return about one point per pixel, joining several series on one
// time axis, and CSV.

/** Bucket widths the console rounds up to, so refreshes land on the same bucket edges. */
export const NICE_BUCKETS_MS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1_000,
  2_000,
  5_000,
  10_000,
  15_000,
  30_000,
  60_000,
  120_000,
  300_000,
  600_000,
  900_000,
  1_800_000,
  3_600_000,
  7_200_000,
  10_800_000,
  21_600_000,
  43_200_000,
  86_400_000,
  604_800_000,
];

/**
 * The bucket for a range drawn `widthPx` pixels wide: the smallest nice width at or above
 * `range / width`, so the server aggregates to at most one point per pixel.
 */
export function autoBucketMs(fromMs, toMs, widthPx) {
  const raw = Math.max(1, Math.ceil((toMs - fromMs) / Math.max(1, Math.floor(widthPx))));
  for (const b of NICE_BUCKETS_MS) if (b >= raw) return b;
  return Math.ceil(raw / 86_400_000) * 86_400_000;
}

/** `[from, to]` widened to whole buckets (buckets start at multiples of `bucketMs`). */
export function alignRange(fromMs, toMs, bucketMs) {
  const from = Math.floor(fromMs / bucketMs) * bucketMs;
  const to = Math.ceil((toMs + 1) / bucketMs) * bucketMs - 1;
  return { from, to };
}

/**
 * Joins series (`[[ts, value], …]` each, ascending) on one time axis, as uPlot wants it:
 * `[xs, ys0, ys1, …]` where a series without a point at some x has null there.
 */
export function joinSeries(list) {
  if (list.length === 1) {
    const s = list[0];
    return [s.map((p) => p[0]), s.map((p) => p[1])];
  }
  const xsSet = new Set();
  for (const s of list) for (const p of s) xsSet.add(p[0]);
  const xs = Float64Array.from(xsSet).sort();
  const index = new Map();
  xs.forEach((x, i) => index.set(x, i));
  const out = [Array.from(xs)];
  for (const s of list) {
    const ys = new Array(xs.length).fill(null);
    for (const [t, v] of s) ys[index.get(t)] = v;
    out.push(ys);
  }
  return out;
}

/** Points across all series of joined data (nulls excluded). */
export function pointCount(data) {
  let n = 0;
  for (let i = 1; i < data.length; i++) for (const v of data[i]) if (v !== null) n++;
  return n;
}

/**
 * One CSV cell: quoted when it holds a comma, quote or line break; text that a spreadsheet
 * would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`. Keys are user
 * data, so a key named `=HYPERLINK(…)` must stay text.
 */
export function csvCell(value) {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Joined data as CSV: `timestamp_ms,time_utc,<key>,…`, one line per x. */
export function toCsv(keys, data) {
  const lines = [["timestamp_ms", "time_utc", ...keys].map(csvCell).join(",")];
  const xs = data[0] ?? [];
  for (let i = 0; i < xs.length; i++) {
    const row = [xs[i], new Date(xs[i]).toISOString()];
    for (let s = 1; s < data.length; s++) row.push(data[s][i]);
    lines.push(row.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** A file name made of safe characters only. */
export function safeFileName(text) {
  return text.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80) || "series";
}

/** Parses a label filter text (`host=pi metric=cpu`) into expressions, split on spaces. */
export function filterExprs(text) {
  return String(text ?? "").split(/\s+/).filter((e) => e.length > 0);
}
