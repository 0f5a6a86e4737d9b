/**
 * The three views of the registry's families: Prometheus text exposition 0.0.4 (`/metrics`),
 * INFO lines (`field:value`) of one section, and the `/v1/stats` JSON object.
 * ARCHITECTURE.md § "Metrics registry".
 *
 * @module
 */

import { Histogram } from "./histogram.ts";
import type { Family, ResolvedSpec, Sample } from "./registry.ts";

/** Content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A number as the text format writes it (`+Inf`, `-Inf`, `NaN`). */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** A label value escaped for the text format (backslash, double quote, line feed). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Help text escaped for the text format (backslash, line feed). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** `name="value",...` of one sample, escaped (empty without labels). */
function labelPairs(names: readonly string[], values: readonly string[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += `${names[i]}="${escapeLabelValue(values[i]!)}"`;
  }
  return out;
}

function compareLabels(a: Sample<unknown>, b: Sample<unknown>): number {
  for (let i = 0; i < a.labels.length; i++) {
    const x = a.labels[i]!;
    const y = b.labels[i]!;
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    // Numeric labels (levels, status codes) in numeric order.
    if (x !== "" && y !== "" && Number.isFinite(nx) && Number.isFinite(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return 0;
}

function sorted<V>(samples: readonly Sample<V>[]): readonly Sample<V>[] {
  return samples.length < 2 ? samples : [...samples].sort(compareLabels);
}

/**
 * Every family in the Prometheus text format 0.0.4: one `# HELP` and one `# TYPE` line, then
 * its samples sorted by label values; histograms as cumulative `_bucket{le=...}`, `_sum`,
 * `_count`. A family with no samples is written with its HELP and TYPE only.
 */
export function renderPrometheus(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const { spec, samples } of families) {
    const name = spec.name;
    lines.push(`# HELP ${name} ${escapeHelp(spec.help)}`, `# TYPE ${name} ${spec.type}`);
    for (const s of sorted(samples)) {
      const pairs = labelPairs(spec.labels, s.labels);
      const v = s.value;
      if (v instanceof Histogram) {
        // The label pairs once per sample, not once per bucket: a scrape writes many buckets.
        const open = pairs === "" ? `${name}_bucket{le="` : `${name}_bucket{${pairs},le="`;
        let cumulative = 0;
        for (let i = 0; i < v.counts.length; i++) {
          cumulative += v.counts[i]!;
          const le = i < v.bounds.length ? formatNumber(v.bounds[i]!) : "+Inf";
          lines.push(`${open}${le}"} ${cumulative}`);
        }
        const l = pairs === "" ? "" : `{${pairs}}`;
        lines.push(`${name}_sum${l} ${formatNumber(v.sum)}`, `${name}_count${l} ${v.count}`);
      } else {
        lines.push(`${name}${pairs === "" ? "" : `{${pairs}}`} ${formatNumber(v)}`);
      }
    }
  }
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}

/** `1536` -> `1.50K`, as Redis writes `used_memory_human`. */
export function humanBytes(bytes: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes}B` : `${v.toFixed(2)}${units[i]}`;
}

function infoValue(spec: ResolvedSpec, v: number | Histogram): string | number {
  if (v instanceof Histogram) {
    return `count=${v.count},sum=${Number(v.sum.toFixed(6))},` +
      `p50=${Number(v.quantile(0.5).toFixed(6))},p99=${Number(v.quantile(0.99).toFixed(6))}`;
  }
  const format = spec.info === false ? undefined : spec.info.format;
  return format === undefined ? v : format(v);
}

/**
 * The INFO lines of `section` (lowercase) from `families`, in declaration order. A labelled
 * stat gives one line per sample (`<field>_<values>`), a list one comma-separated line.
 */
export function renderInfo(
  families: readonly Family[],
  section: string,
): [string, string | number][] {
  const out: [string, string | number][] = [];
  for (const { spec, samples } of families) {
    const info = spec.info;
    if (info === false || info.section !== section) continue;
    const base = typeof info.field === "string"
      ? info.field
      : spec.name.replace(/^cityhall_/, "").replace(/_total$/, "");
    if (spec.list) {
      const values = sorted(samples).map((s) => infoValue(spec, s.value));
      out.push([base, values.join(",")]);
      continue;
    }
    for (const s of sorted(samples)) {
      const field = typeof info.field === "function"
        ? info.field(s.labels)
        : s.labels.length === 0
        ? base
        : `${base}_${s.labels.join("_")}`;
      const value = infoValue(spec, s.value);
      out.push([field, value]);
      if (info.human && typeof s.value === "number") {
        out.push([`${field}_human`, humanBytes(s.value)]);
      }
    }
  }
  return out;
}

function jsonValue(v: number | Histogram): unknown {
  if (!(v instanceof Histogram)) return v;
  // A list, not an object: JSON objects put integer-like keys ("1", "10") first.
  const buckets = v.cumulative().map((b) => ({ le: formatNumber(b.le), count: b.count }));
  return { count: v.count, sum: v.sum, buckets };
}

function setPath(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = root;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const next = o[k];
    if (typeof next === "object" && next !== null && !Array.isArray(next)) {
      o = next as Record<string, unknown>;
    } else o = o[k] = {};
  }
  o[path[path.length - 1]!] = value;
}

/**
 * The `/v1/stats` object: each family at its JSON path; a labelled family as objects nested by
 * label value (`{"set": 3}`), a list as an array, a histogram as
 * `{count, sum, buckets: [{le, count}]}` (cumulative, `le` as in `/metrics`).
 */
export function renderJson(families: readonly Family[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const { spec, samples } of families) {
    if (spec.json === false) continue;
    const path = spec.json.split(".");
    if (spec.list) {
      setPath(root, path, sorted(samples).map((s) => jsonValue(s.value)));
    } else if (spec.labels.length === 0) {
      const s = samples[0];
      if (s !== undefined) setPath(root, path, jsonValue(s.value));
    } else {
      const obj: Record<string, unknown> = {};
      for (const s of sorted(samples)) setPath(obj, s.labels, jsonValue(s.value));
      setPath(root, path, obj);
    }
  }
  return root;
}
