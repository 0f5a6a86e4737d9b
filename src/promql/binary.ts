/**
 * Binary operators between scalars and instant vectors: arithmetic, comparisons (filtering or
 * `bool`), `and`/`or`/`unless`, and vector matching with `on`/`ignoring` and
 * `group_left`/`group_right` (ARCHITECTURE.md § "PromQL engine"). Semantics and error texts
 * are Prometheus 2.42's `VectorBinop`, `VectorAnd/Or/Unless` and `resultMetric`.
 *
 * @module
 */

import { type BinaryOp, isComparison, type VectorMatching } from "./ast.ts";
import type { Sample } from "./functions.ts";
import { Labels, METRIC_NAME } from "./labels.ts";
import { QueryError } from "./errors.ts";

/** `op` between two numbers; comparisons give 1 or 0 (scalar `bool` comparisons). */
export function scalarBinop(op: BinaryOp, l: number, r: number): number {
  switch (op) {
    case "+":
      return l + r;
    case "-":
      return l - r;
    case "*":
      return l * r;
    case "/":
      return l / r;
    case "^":
      return Math.pow(l, r);
    case "%":
      return l % r;
    case "atan2":
      return Math.atan2(l, r);
    case "==":
      return l === r ? 1 : 0;
    case "!=":
      return l !== r ? 1 : 0;
    case ">":
      return l > r ? 1 : 0;
    case "<":
      return l < r ? 1 : 0;
    case ">=":
      return l >= r ? 1 : 0;
    case "<=":
      return l <= r ? 1 : 0;
    default:
      throw new QueryError(`operator "${op}" not allowed for Scalar operations`);
  }
}

/** The value and keep flag of `op` between two vector elements (comparisons keep the left). */
function elemBinop(op: BinaryOp, l: number, r: number): [number, boolean] {
  if (isComparison(op)) return [l, scalarBinop(op, l, r) === 1];
  return [scalarBinop(op, l, r), true];
}

/** True when `op` drops the metric name from its result (arithmetic, not comparisons). */
export function dropsMetricName(op: BinaryOp): boolean {
  return op === "+" || op === "-" || op === "*" || op === "/" || op === "^" || op === "%";
}

/** Vector–scalar (`swap`: the scalar is on the left). */
export function vectorScalarBinop(
  op: BinaryOp,
  vec: readonly Sample[],
  scalar: number,
  swap: boolean,
  returnBool: boolean,
): Sample[] {
  const out: Sample[] = [];
  const comparison = isComparison(op);
  for (const s of vec) {
    let l = s.v;
    let r = scalar;
    if (swap) [l, r] = [r, l];
    let [value, keep] = elemBinop(op, l, r);
    // A comparison keeps the vector's value even when the scalar is on the left.
    if (comparison && swap) value = r;
    if (returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    const labels = dropsMetricName(op) || returnBool ? s.labels.withoutMetricName() : s.labels;
    out.push({ labels, v: value, src: -1 });
  }
  return out;
}

/** The join signature function of a matching: the `on` labels, or all but the `ignoring` ones. */
export function signatureFunction(m: VectorMatching): (labels: Labels) => string {
  if (m.on) {
    const keep = new Set(m.labels);
    return (l) => l.keep(keep).key();
  }
  const drop = new Set([METRIC_NAME, ...m.labels]);
  return (l) => l.drop(drop).key();
}

/** `and`. */
export function vectorAnd(
  lhs: readonly Sample[],
  rhs: readonly Sample[],
  ls: string[],
  rs: string[],
) {
  if (lhs.length === 0 || rhs.length === 0) return [];
  const right = new Set<string>();
  for (const s of rhs) right.add(rs[s.src]!);
  return lhs.filter((s) => right.has(ls[s.src]!));
}

/** `or`. */
export function vectorOr(
  lhs: readonly Sample[],
  rhs: readonly Sample[],
  ls: string[],
  rs: string[],
) {
  if (lhs.length === 0) return [...rhs];
  if (rhs.length === 0) return [...lhs];
  const left = new Set<string>();
  const out: Sample[] = [];
  for (const s of lhs) {
    left.add(ls[s.src]!);
    out.push(s);
  }
  for (const s of rhs) if (!left.has(rs[s.src]!)) out.push(s);
  return out;
}

/** `unless`. */
export function vectorUnless(
  lhs: readonly Sample[],
  rhs: readonly Sample[],
  ls: string[],
  rs: string[],
) {
  if (lhs.length === 0 || rhs.length === 0) return [...lhs];
  const right = new Set<string>();
  for (const s of rhs) right.add(rs[s.src]!);
  return lhs.filter((s) => !right.has(ls[s.src]!));
}

/** The labels Prometheus shows for a matched set (`{a="b"}`). */
function matchLabelsText(l: Labels, m: VectorMatching): string {
  const sub = m.on ? l.keep(new Set(m.labels)) : l.drop(new Set([METRIC_NAME, ...m.labels]));
  return sub.toString();
}

/** Vector–vector arithmetic or comparison with one-to-one or many-to-one/one-to-many matching. */
export function vectorBinop(
  op: BinaryOp,
  lhsIn: readonly Sample[],
  rhsIn: readonly Sample[],
  m: VectorMatching,
  returnBool: boolean,
  lsIn: string[],
  rsIn: string[],
  resultCache: Map<string, Labels>,
): Sample[] {
  if (lhsIn.length === 0 || rhsIn.length === 0) return [];
  // For one-to-many, swap sides so the right is always the "one" side.
  const swapped = m.card === "one-to-many";
  const [lhs, rhs, ls, rs] = swapped ? [rhsIn, lhsIn, rsIn, lsIn] : [lhsIn, rhsIn, lsIn, rsIn];
  const right = new Map<string, Sample>();
  for (const s of rhs) {
    const sig = rs[s.src]!;
    const dup = right.get(sig);
    if (dup) {
      throw new QueryError(
        `found duplicate series for the match group ${matchLabelsText(s.labels, m)} on the ${
          swapped ? "left" : "right"
        } hand-side of the operation: [${s.labels}, ${dup.labels}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    right.set(sig, s);
  }
  const matched = new Map<string, Set<string> | null>();
  const out: Sample[] = [];
  for (const l of lhs) {
    const sig = ls[l.src]!;
    const r = right.get(sig);
    if (!r) continue;
    let [vl, vr] = [l.v, r.v];
    if (swapped) [vl, vr] = [vr, vl];
    let [value, keep] = elemBinop(op, vl, vr);
    if (returnBool) value = keep ? 1 : 0;
    else if (!keep) continue;
    let metric = resultMetric(l.labels, r.labels, op, m, resultCache);
    if (returnBool) metric = metric.withoutMetricName();
    const seen = matched.get(sig);
    if (m.card === "one-to-one") {
      if (seen !== undefined) {
        throw new QueryError(
          "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
        );
      }
      matched.set(sig, null);
    } else {
      const insert = metric.key();
      if (seen === undefined || seen === null) matched.set(sig, new Set([insert]));
      else if (seen.has(insert)) {
        throw new QueryError(
          "multiple matches for labels: grouping labels must ensure unique matches",
        );
      } else seen.add(insert);
    }
    out.push({ labels: metric, v: value, src: -1 });
  }
  return out;
}

function resultMetric(
  lhs: Labels,
  rhs: Labels,
  op: BinaryOp,
  m: VectorMatching,
  cache: Map<string, Labels>,
): Labels {
  const cacheKey = lhs.key() + "\u0000" + rhs.key();
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const map = new Map<string, string>(lhs.pairs());
  if (dropsMetricName(op)) map.delete(METRIC_NAME);
  if (m.card === "one-to-one") {
    if (m.on) {
      const keep = new Set(m.labels);
      for (const n of [...map.keys()]) if (!keep.has(n)) map.delete(n);
    } else for (const n of m.labels) map.delete(n);
  }
  for (const n of m.include) {
    const v = rhs.get(n);
    if (v !== "") map.set(n, v);
    else map.delete(n);
  }
  const out = Labels.fromMap(map);
  cache.set(cacheKey, out);
  return out;
}
