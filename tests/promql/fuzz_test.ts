/**
 * Random PromQL queries against a real Prometheus 2.42 and CityHall's engine over the same
 * samples (tests/promql/_oracle.ts). Seeded (CITYHALL_SEED, printed); `deno task fuzz` scales
 * the number of queries with CITYHALL_FUZZ_SCALE.
 *
 * Prometheus itself is not deterministic in two places random queries reach, so the fuzzer
 * allows for them: in a range query, the series an operator or function produces come out of a
 * Go map in random order, so a float aggregation over them (`sum`, `avg`, `stddev`, `stdvar`,
 * `quantile`) may differ in the last bits between two runs of the same Prometheus (compared
 * within a relative 1e-6), and `topk`/`bottomk` may pick any of several equal values (used in
 * instant queries only, whose order is deterministic).
 */

import { assertEquals } from "@std/assert";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";
import {
  askCityHall,
  askPrometheus,
  compare,
  DATA_END,
  generate,
  memorySource,
  openMetricsText,
  type QuerySpec,
  startOracle,
  T0,
  toleranceOf,
} from "./_oracle.ts";

const METRICS: Record<string, string[]> = {
  http_requests_total: ["site", "instance", "code"],
  temperature_celsius: ["site", "room"],
  stale_gauge: ["site"],
  request_duration_seconds_bucket: ["site", "le"],
  odd_values: ["kind"],
  up: ["instance", "job"],
};
const VALUES: Record<string, string[]> = {
  site: ["hq", "north", "south", "nowhere"],
  instance: ["a", "b", "x", "y"],
  code: ["200", "500"],
  room: ["lab", "hall"],
  le: ["0.1", "1", "+Inf"],
  kind: ["tiny", "huge", "negative", "nan"],
  job: ["node"],
};
const RANGES = ["30s", "1m", "2m", "5m", "10m", "17m", "1h"];
const RANGE_FNS = [
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "changes",
  "resets",
  "avg_over_time",
  "min_over_time",
  "max_over_time",
  "sum_over_time",
  "count_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "last_over_time",
  "present_over_time",
];
const INSTANT_FNS = [
  "abs",
  "ceil",
  "floor",
  "round",
  "sqrt",
  "sgn",
  "timestamp",
  "sort",
  "sort_desc",
];
const AGGS = ["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"];
const OPS = ["+", "-", "*", "/", "%", ">", "<", ">=", "<=", "==", "!="];

class QueryGen {
  readonly #rng: Rng;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  #pick<T>(a: readonly T[]): T {
    return this.#rng.pick(a);
  }

  #labelsOf(metric: string): string[] {
    return METRICS[metric]!;
  }

  selector(metric = this.#pick(Object.keys(METRICS))): string {
    const rng = this.#rng;
    const matchers: string[] = [];
    for (const l of this.#labelsOf(metric)) {
      if (!rng.chance(0.3)) continue;
      const v = this.#pick(VALUES[l]!);
      const op = this.#pick(["=", "!=", "=~", "!~"]);
      matchers.push(
        op.includes("~") ? `${l}${op}"${v.replace("+", "\\\\+")}|z.*"` : `${l}${op}"${v}"`,
      );
    }
    return matchers.length > 0 ? `${metric}{${matchers.join(",")}}` : metric;
  }

  #modifiers(s: string): string {
    const rng = this.#rng;
    if (rng.chance(0.15)) s += ` offset ${this.#pick(["1m", "5m", "-2m", "90s"])}`;
    if (rng.chance(0.1)) {
      s += ` @ ${
        this.#pick([
          `${(T0 + 3_600_000) / 1000}`,
          `${(T0 + 11_000_000) / 1000}`,
          "start()",
          "end()",
        ])
      }`;
    }
    return s;
  }

  /** Whether `topk`/`bottomk` may appear (not in range queries: see the module comment). */
  allowTopk = true;

  /** An instant-vector expression. */
  vector(depth: number): string {
    const rng = this.#rng;
    if (depth <= 0 || rng.chance(0.25)) return this.#modifiers(this.selector());
    switch (rng.int(7)) {
      case 0: {
        const metric = this.#pick(Object.keys(METRICS));
        const inner = rng.chance(0.2)
          ? `${this.vector(depth - 1)}[${this.#pick(RANGES)}:${this.#pick(["", "1m", "45s"])}]`
          : this.#modifiers(`${this.selector(metric)}[${this.#pick(RANGES)}]`);
        return `${this.#pick(RANGE_FNS)}(${inner})`;
      }
      case 1:
        return `${this.#pick(INSTANT_FNS)}(${this.vector(depth - 1)})`;
      case 2: {
        const agg = this.#pick([
          ...AGGS,
          ...(this.allowTopk ? ["topk", "bottomk"] : []),
          "quantile",
          "count_values",
        ]);
        const labels = this.#pick([["site"], ["room"], ["site", "code"], ["le"], []]);
        const mod = labels.length > 0 || rng.chance(0.5)
          ? ` ${this.#pick(["by", "without"])} (${labels.join(", ")})`
          : "";
        const param = agg === "topk" || agg === "bottomk"
          ? `${1 + rng.int(3)}, `
          : agg === "quantile"
          ? `${this.#pick(["0", "0.5", "0.9", "1"])}, `
          : agg === "count_values"
          ? `"v", `
          : "";
        return `${agg}${mod} (${param}${this.vector(depth - 1)})`;
      }
      case 3: {
        const op = this.#pick(OPS);
        const bool = op.length >= 1 && /[<>=!]/.test(op) && rng.chance(0.4) ? " bool" : "";
        const match = rng.chance(0.4)
          ? ` ${this.#pick(["on", "ignoring"])}(${this.#pick(["site", "code", "instance", ""])})${
            rng.chance(0.3) ? ` ${this.#pick(["group_left", "group_right"])}` : ""
          }`
          : "";
        return `(${this.vector(depth - 1)} ${op}${bool}${match} ${this.vector(depth - 1)})`;
      }
      case 4:
        return `(${this.vector(depth - 1)} ${this.#pick(OPS.slice(0, 5))} ${
          this.#pick(["2", "0.5", "-1", "0"])
        })`;
      case 5:
        return `(${this.vector(depth - 1)} ${this.#pick(["and", "or", "unless"])}${
          rng.chance(0.3) ? ` on(${this.#pick(["site", "room", ""])})` : ""
        } ${this.vector(depth - 1)})`;
      default:
        return `clamp_max(${this.vector(depth - 1)}, ${this.#pick(["10", "100", "0.5"])})`;
    }
  }

  /** A random query and when to evaluate it. */
  spec(): QuerySpec {
    const rng = this.#rng;
    const instant = rng.chance(0.5);
    this.allowTopk = instant;
    const query = this.vector(3);
    if (instant) return { kind: "instant", query, time: T0 + rng.int(DATA_END - T0 + 600_000) };
    const step = this.#pick([15_000, 30_000, 60_000, 77_000, 300_000]);
    const start = T0 - 600_000 + rng.int(DATA_END - T0);
    const end = start + rng.int(200) * step + rng.int(step);
    return { kind: "range", query, start, end, step };
  }
}

/**
 * `answer` (a range query's) with every `count_values` label (`v`) that is a number rounded to
 * 12 significant digits (Prometheus varies in the last three or four), for queries whose values
 * depend on its random series order. Series whose labels become equal are merged, and their
 * counts at one step added.
 */
function roundValueLabels(answer: [number, unknown]): [number, unknown] {
  const copy = structuredClone(answer);
  const data = (copy[1] as { data?: { result?: unknown } }).data;
  if (!data || !Array.isArray(data.result)) return copy;
  type Series = { metric: Record<string, string>; values: [number, string][] };
  const merged = new Map<string, Series>();
  for (const r of data.result as Series[]) {
    const v = r.metric.v;
    if (v !== undefined && Number.isFinite(Number(v))) r.metric.v = Number(v).toPrecision(12);
    const key = JSON.stringify(Object.entries(r.metric).sort());
    const into = merged.get(key);
    if (!into) {
      merged.set(key, r);
      continue;
    }
    const at = new Map(into.values.map((p) => [p[0], p]));
    for (const [t, n] of r.values) {
      const p = at.get(t);
      if (p) p[1] = String(Number(p[1]) + Number(n));
      else into.values.push([t, n]);
    }
    into.values.sort((a, b) => a[0] - b[0]);
  }
  data.result = [...merged.values()];
  return copy;
}

Deno.test({
  name: "fuzz: random PromQL queries answer like a real Prometheus 2.42",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seed = seedFromEnv();
    console.log(`seed ${seed} (CITYHALL_SEED=${seed} to repeat)`);
    const data = generate(seed);
    const { text, loaded } = openMetricsText(data.openMetrics);
    const source = memorySource([loaded, data.remoteWrite]);
    const oracle = await startOracle(data, text);
    try {
      const gen = new QueryGen(new Rng(seed ^ 0x5bd1e995));
      const cases = fuzzCases(60);
      const mismatches: string[] = [];
      let errors = 0;
      let empty = 0;
      for (let i = 0; i < cases; i++) {
        const spec = gen.spec();
        const query = spec.query;
        const p = await askPrometheus(oracle.url, spec);
        const c = askCityHall(source, spec);
        const pj = p[1] as { status: string; data?: { result: unknown } };
        if (pj.status === "error") errors++;
        else if (Array.isArray(pj.data?.result) && pj.data.result.length === 0) empty++;
        const orderDependent = spec.kind === "range" &&
          /\b(sum|avg|stddev|stdvar|quantile)\b/.test(query);
        // count_values turns such a value into a label, so the last bits Prometheus varies in
        // show up as a different series: compare those labels as numbers within the tolerance.
        const tolerance = Math.max(toleranceOf(query), orderDependent ? 1e-6 : 0);
        let diff = compare(spec, p, c, tolerance);
        if (diff && orderDependent && query.includes("count_values")) {
          diff = compare(spec, roundValueLabels(p), roundValueLabels(c), tolerance);
        }
        if (diff) mismatches.push(`${JSON.stringify(spec)}: ${diff}`);
      }
      console.log(
        `fuzz: ${cases} random queries (${errors} errors, ${empty} empty results), ${mismatches.length} mismatches`,
      );
      assertEquals(mismatches, []);
    } finally {
      await oracle.stop();
    }
  },
});
