/**
 * Label filters (TS.MRANGE/TS.MGET/TS.QUERYINDEX FILTER ...) and the inverted label index that
 * answers them. ARCHITECTURE.md § "Label index and filters" lists the syntax.
 *
 * Matching follows RedisTimeSeries 1.8, plus Prometheus-style regular expressions:
 * - `l=v` equal; `l=(a,b)` one of; `l!=v` not equal (a series without `l` matches);
 *   `l!=(a,b)` none of; `l=` has no `l`; `l!=` has `l`;
 * - `l=~re` / `l!~re`: the whole value (empty when the series has no `l`) matches / does not
 *   match `re` (JavaScript syntax, anchored at both ends);
 * - at least one filter must select: `l=v`, `l=(...)`, or `l=~re` whose `re` does not match the
 *   empty string (else every series would be scanned);
 * - filters are conjunctive; results are ordered by key bytes.
 *
 * Label names and values are binary strings (`meta.ts`).
 *
 * @module
 */

import { TS_FILTER_REGEX_BYTES_MAX } from "../limits.ts";

/** One parsed filter. */
export type LabelFilter =
  | { op: "eq"; label: string; values: string[] }
  | { op: "neq"; label: string; values: string[] }
  | { op: "absent"; label: string }
  | { op: "present"; label: string }
  | { op: "regex"; label: string; re: RegExp; negate: boolean };

/** Why a filter list was refused (the RedisTimeSeries error, without `ERR `). */
export class FilterError extends Error {}

function parseList(s: string): string[] | undefined {
  if (!s.endsWith(")")) return undefined;
  const inner = s.slice(0, -1);
  if (inner.length === 0) return [];
  // As RedisTimeSeries: an empty element (`(a,,b)`, `(a,b,)`, `(,a)`) is a parse error.
  const values = inner.split(",");
  return values.includes("") ? undefined : values;
}

/** Parses one filter expression (binary string); throws `FilterError`. */
export function parseFilter(expr: string): LabelFilter {
  const fail = (): never => {
    throw new FilterError("TSDB: failed parsing labels");
  };
  const at = (sep: string) => expr.indexOf(sep);
  let i: number;
  if ((i = at("!=(")) > 0) {
    const values = parseList(expr.slice(i + 3)) ?? fail();
    return { op: "neq", label: expr.slice(0, i), values };
  }
  if ((i = at("!~")) > 0) return regexFilter(expr.slice(0, i), expr.slice(i + 2), true);
  if ((i = at("!=")) > 0) {
    const value = expr.slice(i + 2);
    const label = expr.slice(0, i);
    return value === "" ? { op: "present", label } : { op: "neq", label, values: [value] };
  }
  if ((i = at("=~")) > 0) return regexFilter(expr.slice(0, i), expr.slice(i + 2), false);
  if ((i = at("=(")) > 0) {
    const values = parseList(expr.slice(i + 2)) ?? fail();
    return { op: "eq", label: expr.slice(0, i), values };
  }
  if ((i = at("=")) > 0) {
    const value = expr.slice(i + 1);
    const label = expr.slice(0, i);
    return value === "" ? { op: "absent", label } : { op: "eq", label, values: [value] };
  }
  return fail();
}

function regexFilter(label: string, source: string, negate: boolean): LabelFilter {
  if (source.length > TS_FILTER_REGEX_BYTES_MAX) {
    throw new FilterError(
      `TSDB: regular expression too long: ${source.length} bytes (limit ${TS_FILTER_REGEX_BYTES_MAX})`,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${source})$`, "s");
  } catch (err) {
    throw new FilterError(`TSDB: invalid regular expression: ${(err as Error).message}`);
  }
  return { op: "regex", label, re, negate };
}

/** Parses a filter list and checks that at least one filter selects. */
export function parseFilters(exprs: readonly string[]): LabelFilter[] {
  const filters = exprs.map(parseFilter);
  const selects = filters.some((f) =>
    f.op === "eq" || (f.op === "regex" && !f.negate && !f.re.test(""))
  );
  if (!selects) throw new FilterError("TSDB: please provide at least one matcher");
  return filters;
}

/** True when labels `get` (name -> value) pass `filter`. */
export function matchFilter(filter: LabelFilter, get: (label: string) => string | undefined) {
  const v = get(filter.label);
  switch (filter.op) {
    case "eq":
      return v !== undefined && filter.values.includes(v);
    case "neq":
      return v === undefined || !filter.values.includes(v);
    case "absent":
      return v === undefined;
    case "present":
      return v !== undefined;
    case "regex":
      return filter.re.test(v ?? "") !== filter.negate;
  }
}

/** An inverted index: label -> value -> series ids. */
export class LabelIndex<Id> {
  // No set of every id: no query reads it (each needs an equality or a selecting regular
  // expression), and it was a hash insertion and ~40 bytes of heap per series created.
  readonly #byLabel = new Map<string, Map<string, Set<Id>>>();

  /** Indexes `id` under its labels. */
  add(id: Id, labels: readonly [string, string][]): void {
    for (const [name, value] of labels) {
      let values = this.#byLabel.get(name);
      if (!values) this.#byLabel.set(name, values = new Map());
      let ids = values.get(value);
      if (!ids) values.set(value, ids = new Set());
      ids.add(id);
    }
  }

  /** Removes `id` (indexed with `labels`). */
  remove(id: Id, labels: readonly [string, string][]): void {
    for (const [name, value] of labels) {
      const values = this.#byLabel.get(name);
      const ids = values?.get(value);
      if (!ids) continue;
      ids.delete(id);
      if (ids.size === 0) values!.delete(value);
      if (values!.size === 0) this.#byLabel.delete(name);
    }
  }

  /**
   * The ids passing every filter. `labelsOf(id)` gives a series' labels for the filters the
   * index cannot answer directly (regular expressions, exclusions).
   */
  query(filters: readonly LabelFilter[], labelsOf: (id: Id) => ReadonlyMap<string, string>): Id[] {
    // Start from the smallest selecting set (equality), like RedisTimeSeries's planner.
    let best: Set<Id> | undefined;
    for (const f of filters) {
      if (f.op !== "eq") continue;
      const union = new Set<Id>();
      const values = this.#byLabel.get(f.label);
      for (const v of f.values) for (const id of values?.get(v) ?? []) union.add(id);
      if (best === undefined || union.size < best.size) best = union;
    }
    if (best === undefined) {
      // Only selecting regular expressions: candidates are the series having the label.
      for (const f of filters) {
        if (f.op !== "regex" || f.negate || f.re.test("")) continue;
        const union = new Set<Id>();
        const values = this.#byLabel.get(f.label);
        for (const [value, ids] of values ?? []) {
          if (f.re.test(value)) { for (const id of ids) union.add(id); }
        }
        if (best === undefined || union.size < best.size) best = union;
      }
    }
    const out: Id[] = [];
    for (const id of best ?? []) {
      const labels = labelsOf(id);
      if (filters.every((f) => matchFilter(f, (l) => labels.get(l)))) out.push(id);
    }
    return out;
  }

  /** Every distinct value of `label` (for tools and the HTTP API). */
  values(label: string): string[] {
    return [...(this.#byLabel.get(label)?.keys() ?? [])];
  }
}
