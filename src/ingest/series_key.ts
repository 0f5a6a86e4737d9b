/**
 * The canonical series key of ingested samples (ARCHITECTURE.md § "Influx line protocol" and
 * "Prometheus remote write"): `name{a="x",b="y"}` with the labels other than `__name__`
 * sorted by name (JavaScript string order; equal to byte order for ASCII names) and values
 * escaped as Prometheus writes them (`\\`, `\"`, `\n`); just `name` when there are no other
 * labels. The same labels always give the same key, whatever order they arrived in.
 *
 * @module
 */

import { SERIES_LABEL_BYTES_MAX, SERIES_LABELS_MAX } from "../limits.ts";

/** Why labels were refused (the caller adds the line or series number). */
export class LabelError extends Error {}

/** The metric-name label. */
export const NAME_LABEL = "__name__";

function escapeValue(v: string): string {
  if (v.indexOf("\\") < 0 && v.indexOf('"') < 0 && v.indexOf("\n") < 0) return v;
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/**
 * The key of metric `name` with `labels` (pairs, any order, no `__name__`, names unique).
 * REQUIRES: `labels` sorted by name when `sorted` is true (skips the sort).
 */
export function seriesKey(
  name: string,
  labels: readonly (readonly [string, string])[],
  sorted = false,
): string {
  if (labels.length === 0) return name;
  const list = sorted
    ? labels
    : [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = name + "{";
  for (let i = 0; i < list.length; i++) {
    const [n, v] = list[i]!;
    if (i > 0) out += ",";
    out += n + '="' + escapeValue(v) + '"';
  }
  return out + "}";
}

/** Checks label count and sizes and that names are unique; throws `LabelError`. */
export function checkLabels(name: string, labels: readonly (readonly [string, string])[]): void {
  if (labels.length + 1 > SERIES_LABELS_MAX) {
    throw new LabelError(`too many labels: ${labels.length + 1} (limit ${SERIES_LABELS_MAX})`);
  }
  if (name.length > SERIES_LABEL_BYTES_MAX) {
    throw new LabelError(
      `metric name too long: ${name.length} bytes (limit ${SERIES_LABEL_BYTES_MAX})`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const [n, v] = labels[i]!;
    if (n.length > SERIES_LABEL_BYTES_MAX || v.length > SERIES_LABEL_BYTES_MAX) {
      throw new LabelError(
        `label too long: ${n.slice(0, 64)} (limit ${SERIES_LABEL_BYTES_MAX} bytes)`,
      );
    }
    if (n === "") throw new LabelError("empty label name");
    // Series have few labels: a quadratic check allocates nothing.
    for (let j = 0; j < i; j++) {
      if (labels[j]![0] === n) throw new LabelError(`duplicate label name: ${n}`);
    }
  }
}
