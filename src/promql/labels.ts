/**
 * Label sets and label matchers, as Prometheus has them (ARCHITECTURE.md § "PromQL engine").
 *
 * A `Labels` value is immutable and sorted by name; a missing label and a label with the empty
 * value are the same thing (Prometheus drops empty labels), so `get` answers `""` for both and
 * constructors drop empty values. `key()` is an exact identity (length-prefixed, so no value can
 * forge another set's key) used for maps and duplicate checks.
 *
 * Ordering compares names then values with JavaScript string order (UTF-16 code units). Go
 * compares UTF-8 bytes; the two differ only between characters above U+FFFF and U+E000–U+FFFF,
 * which label values in practice do not mix.
 *
 * @module
 */

import { compileRe2 } from "./regex.ts";

/** The label holding a series' metric name. */
export const METRIC_NAME = "__name__";

/** An immutable label set sorted by name. */
export class Labels {
  /** Names, sorted, unique. */
  readonly names: readonly string[];
  /** Values, aligned with `names`, never empty. */
  readonly values: readonly string[];
  #key: string | undefined;
  #withoutName: Labels | undefined;

  private constructor(names: readonly string[], values: readonly string[]) {
    this.names = names;
    this.values = values;
  }

  /** The empty label set. */
  static readonly EMPTY: Labels = new Labels([], []);

  /** Builds a set from pairs in any order; empty values are dropped, a later duplicate wins. */
  static from(pairs: Iterable<readonly [string, string]>): Labels {
    const map = new Map<string, string>();
    for (const [n, v] of pairs) map.set(n, v);
    return Labels.fromMap(map);
  }

  /** Builds a set from an object (`{job: "api"}`). */
  static fromObject(obj: Readonly<Record<string, string>>): Labels {
    return Labels.from(Object.entries(obj));
  }

  /** Builds a set from a name → value map. */
  static fromMap(map: ReadonlyMap<string, string>): Labels {
    const names = [...map.keys()].filter((n) => map.get(n) !== "").sort(cmp);
    return new Labels(names, names.map((n) => map.get(n)!));
  }

  /** Builds a set from arrays already sorted by name, unique, without empty values. */
  static sorted(names: readonly string[], values: readonly string[]): Labels {
    return new Labels(names, values);
  }

  /** Number of labels. */
  get size(): number {
    return this.names.length;
  }

  /** The value of `name`, or `""` when absent. */
  get(name: string): string {
    const names = this.names;
    // Sets are small: a linear scan beats a binary search below ~16 labels.
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i]!;
    return "";
  }

  /** True when `name` is present. */
  has(name: string): boolean {
    return this.names.includes(name);
  }

  /** The metric name (`__name__`), or `""`. */
  get metricName(): string {
    return this.get(METRIC_NAME);
  }

  /** An exact identity string for maps (length-prefixed names and values). */
  key(): string {
    if (this.#key === undefined) {
      let k = "";
      for (let i = 0; i < this.names.length; i++) {
        const n = this.names[i]!;
        const v = this.values[i]!;
        k += n.length + ":" + n + v.length + ":" + v;
      }
      this.#key = k;
    }
    return this.#key;
  }

  /** A copy without `__name__` (`this` when there is none); cached, as every step asks. */
  withoutMetricName(): Labels {
    if (this.#withoutName) return this.#withoutName;
    const i = this.names.indexOf(METRIC_NAME);
    if (i < 0) return this.#withoutName = this;
    const names = this.names.slice();
    const values = this.values.slice();
    names.splice(i, 1);
    values.splice(i, 1);
    return this.#withoutName = new Labels(names, values);
  }

  /** A copy with only the labels named in `keep`. */
  keep(keep: ReadonlySet<string>): Labels {
    const names: string[] = [];
    const values: string[] = [];
    for (let i = 0; i < this.names.length; i++) {
      if (keep.has(this.names[i]!)) {
        names.push(this.names[i]!);
        values.push(this.values[i]!);
      }
    }
    return new Labels(names, values);
  }

  /** A copy without the labels named in `drop`. */
  drop(drop: ReadonlySet<string>): Labels {
    const names: string[] = [];
    const values: string[] = [];
    for (let i = 0; i < this.names.length; i++) {
      if (!drop.has(this.names[i]!)) {
        names.push(this.names[i]!);
        values.push(this.values[i]!);
      }
    }
    return new Labels(names, values);
  }

  /** A copy with `name` set to `value` (removed when `value` is empty). */
  with(name: string, value: string): Labels {
    const map = new Map<string, string>();
    for (let i = 0; i < this.names.length; i++) map.set(this.names[i]!, this.values[i]!);
    map.set(name, value);
    return Labels.fromMap(map);
  }

  /** Name → value as a plain object (keys in sorted order). */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]!] = this.values[i]!;
    return out;
  }

  /** Pairs in sorted order. */
  pairs(): [string, string][] {
    return this.names.map((n, i) => [n, this.values[i]!]);
  }

  /** Prometheus's text form: `name{a="b", c="d"}`. */
  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.names.length; i++) {
      parts.push(`${this.names[i]}=${JSON.stringify(this.values[i])}`);
    }
    return `{${parts.join(", ")}}`;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders label sets like Prometheus's `labels.Compare`: pairwise by name, value, then length. */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.size, b.size);
  for (let i = 0; i < n; i++) {
    const c = cmp(a.names[i]!, b.names[i]!);
    if (c !== 0) return c;
    const d = cmp(a.values[i]!, b.values[i]!);
    if (d !== 0) return d;
  }
  return a.size - b.size;
}

/** A label matcher operator. */
export type MatchOp = "=" | "!=" | "=~" | "!~";

/** One label matcher (`job="api"`, `path=~"/v1/.*"`). */
export interface Matcher {
  /** Label name. */
  readonly name: string;
  /** Operator. */
  readonly op: MatchOp;
  /** Right-hand side: a value, or an RE2 pattern for `=~`/`!~`. */
  readonly value: string;
  /** The compiled, fully anchored pattern for `=~`/`!~`. */
  readonly re?: RegExp;
}

/** Builds a matcher; a regular expression is compiled with RE2 semantics (throws `SyntaxError`). */
export function newMatcher(name: string, op: MatchOp, value: string): Matcher {
  if (op === "=~" || op === "!~") return { name, op, value, re: compileRe2(value) };
  return { name, op, value };
}

/** True when `value` (`""` for a missing label) satisfies `m`. */
export function matchValue(m: Matcher, value: string): boolean {
  switch (m.op) {
    case "=":
      return value === m.value;
    case "!=":
      return value !== m.value;
    case "=~":
      return m.re!.test(value);
    case "!~":
      return !m.re!.test(value);
  }
}

/** True when every matcher accepts the labels returned by `get` (`""` when absent). */
export function matchAll(matchers: readonly Matcher[], get: (name: string) => string): boolean {
  for (const m of matchers) if (!matchValue(m, get(m.name))) return false;
  return true;
}

/** True when `labels` pass every matcher. */
export function matchLabels(matchers: readonly Matcher[], labels: Labels): boolean {
  return matchAll(matchers, (n) => labels.get(n));
}

/** `[a-zA-Z_][a-zA-Z0-9_]*`: Prometheus's label name syntax. */
export function isValidLabelName(name: string): boolean {
  return /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name);
}

/** `[a-zA-Z_:][a-zA-Z0-9_:]*`: Prometheus's metric name syntax. */
export function isValidMetricName(name: string): boolean {
  return /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name);
}
