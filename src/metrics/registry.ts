/**
 * The metrics registry: every stat CityHall reports is declared once, here or through one of
 * these, with its name, help, type and unit, and where INFO and `/v1/stats` show it; then
 * `/metrics`, INFO and `/v1/stats` all render from the same declarations (`render.ts`).
 * ARCHITECTURE.md § "Metrics registry".
 *
 * A value is either a cell the registry owns (`counter`, `counterVec`, `histogram`,
 * `histogramVec`), updated where the event happens, or a `collect` callback that reads a number
 * its owner keeps anyway (the engine's counters, a map's size): the callback runs at render
 * time only, so hot paths pay nothing for it.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { Histogram } from "./histogram.ts";

/** The Prometheus metric types CityHall uses. */
export type MetricType = "counter" | "gauge" | "histogram";

/**
 * What a value measures. `bytes` and `seconds` are base units and must appear in the name
 * (`_bytes`, `_seconds`); `1` is a dimensionless count or ratio.
 */
export type MetricUnit = "bytes" | "seconds" | "1";

/** Where INFO shows a stat. */
export interface InfoPlacement {
  /** INFO section (lowercase), e.g. `stats`, `clients`, `cityhall`. */
  section: string;
  /**
   * Field name. Default: the metric's name without `cityhall_` and `_total`. For a labelled
   * stat, a function of the label values, or a prefix to which `_<values>` is appended.
   */
  field?: string | ((labelValues: readonly string[]) => string);
  /** How the value is written (Redis writes some rates with two decimals). */
  format?: (value: number) => string | number;
  /** Also writes `<field>_human` (`1.50M`), as Redis does for memory sizes. */
  human?: boolean;
}

/** A metric's declaration. */
export interface MetricSpec {
  /** Prometheus family name: `cityhall_...`, snake_case, counters end in `_total`. */
  name: string;
  /** One line of help (Prometheus `# HELP`). */
  help: string;
  /** Counter, gauge or histogram. */
  type: MetricType;
  /** The unit of its values. */
  unit: MetricUnit;
  /** Label names, in order (values are given in the same order). */
  labels?: readonly string[];
  /**
   * The single label is a position 0...n-1 (a level): `/v1/stats` shows an array and INFO one
   * comma-separated field.
   */
  list?: boolean;
  /**
   * Where INFO shows it: a placement, or `false` when another INFO section already shows the
   * same numbers (say why in `help`'s neighbourhood). Default: section `cityhall`.
   */
  info?: InfoPlacement | false;
  /**
   * Key path in the `/v1/stats` object (`server.connectedClients`), or `false`. Default: the
   * registry's JSON prefix plus the camelCase name without `cityhall_` and `_total`.
   */
  json?: string | false;
}

/** One sample of a labelled stat: label values in the declaration's order. */
export interface Sample<V = number> {
  /** Label values, in the order of `MetricSpec.labels`. */
  labels: readonly string[];
  /** The value. */
  value: V;
}

/** What a family holds at render time. */
export interface Family {
  /** Its declaration (defaults filled in). */
  spec: ResolvedSpec;
  /** Its samples, label values in declaration order. */
  samples: Sample<number | Histogram>[];
}

/** A declaration with every default filled in. */
export interface ResolvedSpec extends MetricSpec {
  /** Label names. */
  labels: readonly string[];
  /** INFO placement or false. */
  info: InfoPlacement | false;
  /** JSON path or false. */
  json: string | false;
}

/** A counter the registry owns. */
export class Counter {
  /** The count since start (or the last reset). */
  value = 0;
  /** Adds `by` (default 1). */
  inc(by = 1): void {
    this.value += by;
  }
}

/** A labelled counter the registry owns. */
export class CounterVec {
  readonly #cells = new Map<string, { labels: readonly string[]; value: number }>();
  readonly #arity: number;

  /** A counter with `arity` labels. */
  constructor(arity: number) {
    this.#arity = arity;
  }

  /** Adds `by` (default 1) to the sample with `labels`. */
  inc(labels: readonly string[], by = 1): void {
    assert(labels.length === this.#arity, `expected ${this.#arity} label values`);
    const id = labels.join("\0");
    const c = this.#cells.get(id);
    if (c === undefined) this.#cells.set(id, { labels: [...labels], value: by });
    else c.value += by;
  }

  /** Every sample. */
  samples(): Sample[] {
    return [...this.#cells.values()].map((c) => ({ labels: c.labels, value: c.value }));
  }

  /** The sum over every label value. */
  get total(): number {
    let t = 0;
    for (const c of this.#cells.values()) t += c.value;
    return t;
  }

  /** Forgets every sample. */
  reset(): void {
    this.#cells.clear();
  }
}

/** A labelled histogram the registry owns: one `Histogram` per label values. */
export class HistogramVec {
  readonly #cells = new Map<string, Sample<Histogram>>();
  readonly #bounds: readonly number[];
  readonly #arity: number;

  /** Histograms with `arity` labels and upper bounds `bounds`. */
  constructor(arity: number, bounds: readonly number[]) {
    this.#arity = arity;
    this.#bounds = bounds;
  }

  /** The histogram of `labels` (created empty on first use). */
  get(labels: readonly string[]): Histogram {
    assert(labels.length === this.#arity, `expected ${this.#arity} label values`);
    const id = labels.join("\0");
    let c = this.#cells.get(id);
    if (c === undefined) {
      this.#cells.set(id, c = { labels: [...labels], value: new Histogram(this.#bounds) });
    }
    return c.value;
  }

  /** Every sample. */
  samples(): Sample<Histogram>[] {
    return [...this.#cells.values()];
  }

  /** Forgets every sample. */
  reset(): void {
    this.#cells.clear();
  }
}

/** What a `collect` callback returns: a number for an unlabelled stat, samples otherwise. */
export type Collected = number | Histogram | Sample<number | Histogram>[];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `cityhall_http_requests_total` -> `http_requests`. */
function shortName(name: string): string {
  return name.replace(/^cityhall_/, "").replace(/_total$/, "");
}

function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Checks a declaration against the Prometheus naming rules and fills in its defaults. */
function resolve(spec: MetricSpec, jsonPrefix: string, section: string): ResolvedSpec {
  const { name, type, unit } = spec;
  assert(NAME.test(name) && !name.includes("__"), `bad metric name: ${name}`);
  assert(spec.help.length > 0 && !spec.help.includes("\n"), `metric ${name} needs a one-line help`);
  assert(
    (type === "counter") === name.endsWith("_total"),
    `metric ${name}: counters, and only counters, end in _total`,
  );
  assert(!/_(bucket|sum|count)$/.test(name), `metric ${name}: reserved suffix`);
  assert(unit === "1" || name.includes(`_${unit}`), `metric ${name}: the name must say its unit`);
  const labels = spec.labels ?? [];
  for (const l of labels) {
    assert(LABEL.test(l) && !l.startsWith("__") && l !== "le", `metric ${name}: bad label ${l}`);
  }
  assert(!spec.list || labels.length === 1, `metric ${name}: a list has exactly one label`);
  const info = spec.info === undefined ? { section } : spec.info;
  const json = spec.json === undefined
    ? (jsonPrefix === "" ? "" : jsonPrefix + ".") + camel(shortName(name))
    : spec.json;
  return { ...spec, labels, info, json };
}

interface Entry {
  spec: ResolvedSpec;
  read: () => Collected;
  reset?: () => void;
}

/** Options of a registry. */
export interface RegistryOptions {
  /** JSON path prefix of stats that do not name their own (e.g. `server`). Default: none. */
  jsonPrefix?: string;
  /** INFO section of stats that do not name their own. Default: `cityhall`. */
  infoSection?: string;
}

/**
 * A set of declared stats. A name declared twice is refused (an `AssertionError`: the program
 * is wrong); `gather` refuses the same name in two registries rendered together.
 */
export class Registry {
  readonly #entries = new Map<string, Entry>();
  readonly #prepare: (() => void)[] = [];
  readonly #jsonPrefix: string;
  readonly #section: string;

  /** An empty registry. */
  constructor(options: RegistryOptions = {}) {
    this.#jsonPrefix = options.jsonPrefix ?? "";
    this.#section = options.infoSection ?? "cityhall";
  }

  #add(spec: MetricSpec, read: () => Collected, reset?: () => void): void {
    assert(!this.#entries.has(spec.name), `metric ${spec.name} declared twice`);
    const entry: Entry = { spec: resolve(spec, this.#jsonPrefix, this.#section), read };
    if (reset !== undefined) entry.reset = reset;
    this.#entries.set(spec.name, entry);
  }

  /** Declares an unlabelled counter the registry owns. */
  counter(spec: Omit<MetricSpec, "type" | "labels">): Counter {
    const c = new Counter();
    this.#add({ ...spec, type: "counter" }, () => c.value, () => c.value = 0);
    return c;
  }

  /** Declares a labelled counter the registry owns. */
  counterVec(spec: Omit<MetricSpec, "type"> & { labels: readonly string[] }): CounterVec {
    const c = new CounterVec(spec.labels.length);
    this.#add({ ...spec, type: "counter" }, () => c.samples(), () => c.reset());
    return c;
  }

  /** Declares an unlabelled histogram the registry owns, with upper bounds `bounds`. */
  histogram(spec: Omit<MetricSpec, "type" | "labels">, bounds: readonly number[]): Histogram {
    const h = new Histogram(bounds);
    this.#add({ ...spec, type: "histogram" }, () => h, () => h.reset());
    return h;
  }

  /** Declares a labelled histogram the registry owns, with upper bounds `bounds`. */
  histogramVec(
    spec: Omit<MetricSpec, "type"> & { labels: readonly string[] },
    bounds: readonly number[],
  ): HistogramVec {
    const h = new HistogramVec(spec.labels.length, bounds);
    this.#add({ ...spec, type: "histogram" }, () => h.samples(), () => h.reset());
    return h;
  }

  /**
   * Declares a stat whose value its owner keeps: `collect` runs at every render and returns a
   * number (unlabelled), a `Histogram`, or samples (labelled).
   */
  collect(spec: MetricSpec, collect: () => Collected): void {
    this.#add(spec, collect);
  }

  /** Declares every spec of `specs` with its own collect callback (a table of stats). */
  collectAll(specs: readonly (MetricSpec & { collect: () => Collected })[]): void {
    for (const { collect, ...spec } of specs) this.collect(spec, collect);
  }

  /**
   * Runs `fn` once before the callbacks of every render or read, so several stats can share
   * one reading of their owner (one `Database.stats()` per scrape, not one per stat).
   */
  beforeCollect(fn: () => void): void {
    this.#prepare.push(fn);
  }

  /** Zeroes every cell the registry owns (CONFIG RESETSTAT); collected stats are their owners'. */
  reset(): void {
    for (const e of this.#entries.values()) e.reset?.();
  }

  /** The names declared, in declaration order. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The family `name` now, or undefined when it is not declared here. */
  read(name: string): Family | undefined {
    const e = this.#entries.get(name);
    if (e === undefined) return undefined;
    for (const fn of this.#prepare) fn();
    return family(e);
  }

  /** Every family now, in declaration order. */
  families(): Family[] {
    for (const fn of this.#prepare) fn();
    return [...this.#entries.values()].map(family);
  }
}

function family(e: Entry): Family {
  const v = e.read();
  const samples = typeof v === "number" || v instanceof Histogram ? [{ labels: [], value: v }] : v;
  const spec = e.spec;
  for (const s of samples) {
    assert(
      s.labels.length === spec.labels.length,
      `metric ${spec.name}: ${s.labels.length} label values for ${spec.labels.length} labels`,
    );
    assert(
      (spec.type === "histogram") === (s.value instanceof Histogram),
      `metric ${spec.name}: ${spec.type} with a wrong value`,
    );
  }
  return { spec, samples };
}

/**
 * The families of several registries rendered together (`/metrics` of a server: the engine's,
 * the RESP server's, the HTTP server's...). A name in two of them is refused.
 */
export function gather(registries: readonly (Registry | undefined)[]): Family[] {
  const out: Family[] = [];
  const seen = new Set<string>();
  for (const r of registries) {
    if (r === undefined) continue;
    for (const f of r.families()) {
      assert(!seen.has(f.spec.name), `metric ${f.spec.name} declared in two registries`);
      seen.add(f.spec.name);
      out.push(f);
    }
  }
  return out;
}

/**
 * A family a part declares in its own table and hands over whole at render time (a fleet hub's
 * per-site status, an edge's uplink: `src/fleet/status.ts` declares those once for INFO and
 * `/metrics`). Only `/metrics` shows it.
 */
export interface ExternalFamily {
  /** Prometheus family name. */
  name: string;
  /** Gauge or counter. */
  type: "gauge" | "counter";
  /** One line of help. */
  help: string;
  /** Samples; every sample of a family has the same label names. */
  samples: { labels: Record<string, string>; value: number }[];
}

/** `families` as registry families, to render after (and checked against) the declared ones. */
export function externalFamilies(families: readonly ExternalFamily[]): Family[] {
  return families.map((f) => {
    assert(NAME.test(f.name), `bad metric name: ${f.name}`);
    const labels = Object.keys(f.samples[0]?.labels ?? {});
    const spec: ResolvedSpec = {
      name: f.name,
      help: f.help,
      type: f.type,
      unit: "1",
      labels,
      info: false,
      json: false,
    };
    const samples = f.samples.map((s) => ({
      labels: labels.map((l) => s.labels[l] ?? ""),
      value: s.value,
    }));
    return { spec, samples };
  });
}
