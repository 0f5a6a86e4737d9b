/**
 * Parameters of the Prometheus HTTP API, parsed as Prometheus 2.42 parses them (private to
 * `src/promql/`): times as Unix seconds (`1700000000.5`, rounded to the millisecond) or RFC
 * 3339 (`2023-11-14T22:13:20.5Z`, truncated to the millisecond), durations as float seconds or
 * Prometheus durations (`1m30s`), form values from a POST body before the URL's.
 *
 * @module
 */

import { parseDurationMs } from "./lexer.ts";

/** A bad parameter; `message` is the text after `invalid parameter "name": `. */
export class ParamError extends Error {}

/** Prometheus's `minTime`/`maxTime` as clients send them (start/end of "all time"). */
export const MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z";
export const MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z";
/** What "all time" maps to in milliseconds. */
export const MIN_TIME_MS: number = Number.MIN_SAFE_INTEGER;
export const MAX_TIME_MS: number = Number.MAX_SAFE_INTEGER;

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** Parses a time parameter to milliseconds; throws `ParamError`. */
export function parseTime(s: string): number {
  if (FLOAT.test(s) || /^[+-]?(inf|infinity|nan)$/i.test(s)) {
    const t = Number(/^[+-]?inf/i.test(s) ? (s.startsWith("-") ? -Infinity : Infinity) : s);
    if (Number.isFinite(t)) {
      const sec = Math.trunc(t);
      const ms = Math.round((t - sec) * 1000);
      const out = sec * 1000 + ms;
      if (Number.isSafeInteger(out)) return out;
    }
  }
  const m = RFC3339.exec(s);
  if (m) {
    const [, y, mo, d, h, mi, sec, frac, zone, sign, zh, zm] = m;
    const base = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +sec!);
    const valid = +mo! >= 1 && +mo! <= 12 && +d! >= 1 && +d! <= 31 && +h! < 24 && +mi! < 60 &&
      +sec! < 60 && new Date(base).getUTCDate() === +d!;
    if (valid) {
      const ms = frac ? Math.trunc(Number(frac.padEnd(9, "0")) / 1e6) : 0;
      const offset = zone === "Z" ? 0 : (sign === "-" ? -1 : 1) * (+zh! * 60 + +zm!) * 60_000;
      return base + ms - offset;
    }
  }
  if (s === MIN_TIME_TEXT) return MIN_TIME_MS;
  if (s === MAX_TIME_TEXT) return MAX_TIME_MS;
  throw new ParamError(`cannot parse ${JSON.stringify(s)} to a valid timestamp`);
}

/** Parses a duration parameter (`step`, `timeout`) to milliseconds; throws `ParamError`. */
export function parseDuration(s: string): number {
  if (FLOAT.test(s)) {
    const d = Number(s);
    const ns = d * 1e9;
    if (ns > 9223372036854775807 || ns < -9223372036854775808) {
      throw new ParamError(
        `cannot parse ${JSON.stringify(s)} to a valid duration. It overflows int64`,
      );
    }
    // Go truncates to nanoseconds, then Prometheus to milliseconds.
    return Math.trunc(Math.trunc(ns) / 1e6);
  }
  const ms = parseDurationMs(s);
  if (ms !== undefined) return ms;
  throw new ParamError(`cannot parse ${JSON.stringify(s)} to a valid duration`);
}

/** Request parameters: the form body's values first, then the URL's (Go's `r.Form`). */
export class FormParams {
  readonly #values = new Map<string, string[]>();

  /** Merges `url`'s query and an `application/x-www-form-urlencoded` body. */
  constructor(url: URLSearchParams, body?: URLSearchParams) {
    for (const src of [body, url]) {
      if (!src) continue;
      for (const [k, v] of src) {
        const list = this.#values.get(k);
        if (list) list.push(v);
        else this.#values.set(k, [v]);
      }
    }
  }

  /** The first value of `name`, or `""` (Go's `FormValue`). */
  get(name: string): string {
    return this.#values.get(name)?.[0] ?? "";
  }

  /** Every value of `name`. */
  all(name: string): string[] {
    return this.#values.get(name) ?? [];
  }
}
