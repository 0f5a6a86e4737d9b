/**
 * InfluxDB line protocol (what Telegraf's `outputs.influxdb` and `outputs.influxdb_v2` send),
 * parsed into samples mapped as VictoriaMetrics maps them (ARCHITECTURE.md § "Influx line
 * protocol"):
 *
 * ```
 * measurement[,tag=value…] field=value[,field=value…] [timestamp]
 * ```
 * - one sample per numeric field; metric name `<measurement>_<field>`; tags become labels;
 *   series key `name{tag="value",…}` (`series_key.ts`); a line without a measurement is an
 *   error (InfluxDB refuses it; VictoriaMetrics would name the series after the field);
 * - floats as written; `i` integers and `u` unsigned integers as the nearest double (exact up
 *   to 2^53, counted in `inexactIntegers` beyond); booleans 1/0; string fields skipped and
 *   counted in `stringFieldsSkipped`;
 * - escapes: `\,` `\ ` `\=` `\\` in measurement, tag keys, tag values and field keys (any other
 *   backslash is literal); `\"` and `\\` in string fields; `#` starts a comment line; blank
 *   lines and `\r\n` endings are fine;
 * - timestamps are integers in the request's precision (`ns` default, `us`, `ms`, `s`, and v1's
 *   `n`, `u`, `m`, `h`), converted to milliseconds rounding down; no timestamp = `nowMs`.
 *
 * A bad line is reported with its 1-based number and contributes nothing; the other lines'
 * samples are returned (the caller chooses partial or all-or-nothing writes).
 *
 * Speed: Telegraf repeats the same measurement and tag set on many lines, so the part before
 * the first space is parsed once per distinct text and cached for the batch; a body without a
 * backslash skips all unescaping.
 *
 * @module
 */

import { INFLUX_LINE_BYTES_MAX, INFLUX_LINE_ITEMS_MAX } from "../limits.ts";
import { checkLabels, LabelError, NAME_LABEL, seriesKey } from "./series_key.ts";

/** A series a sample belongs to (shared by every sample of the same key in one batch). */
export interface IngestSeries {
  /** Canonical key `name{a="b"}`. */
  readonly key: string;
  /** Metric name. */
  readonly name: string;
  /** Labels other than `__name__`, sorted by name. */
  readonly labels: readonly (readonly [string, string])[];
}

/** A line that could not be parsed. */
export interface InfluxLineError {
  /** 1-based line number in the body. */
  line: number;
  /** What is wrong. */
  message: string;
}

/** The samples of one body, in line order. */
export interface InfluxBatch {
  /** Number of samples. */
  samples: number;
  /** Series of sample i. */
  series: IngestSeries[];
  /** The distinct series of the batch, in order of first appearance (a bad line's too). */
  distinct: IngestSeries[];
  /** Number of sample i's series in `distinct` (`series[i] === distinct[seriesIds[i]]`). */
  seriesIds: Int32Array;
  /** Timestamp (ms) of sample i. */
  timestamps: Float64Array;
  /** Value of sample i. */
  values: Float64Array;
  /** Lines that could not be parsed (their samples are left out). */
  errors: InfluxLineError[];
  /** Lines read (comments and blank lines included). */
  lines: number;
  /** String fields seen and skipped. */
  stringFieldsSkipped: number;
  /** Integer fields beyond ±2^53, stored as the nearest double. */
  inexactIntegers: number;
}

/** Timestamp precisions of the write APIs. */
export type InfluxPrecision = "ns" | "us" | "ms" | "s" | "n" | "u" | "m" | "h";

/** Parses a `precision` parameter (`""` = ns); `undefined` when unknown. */
export function parsePrecision(p: string): InfluxPrecision | undefined {
  if (p === "") return "ns";
  return ["ns", "us", "ms", "s", "n", "u", "m", "h"].includes(p)
    ? (p as InfluxPrecision)
    : undefined;
}

class LineError extends Error {}

/** A series with its number in the batch's `distinct` list. */
interface NumberedSeries extends IngestSeries {
  readonly id: number;
}

interface Head {
  /** `<measurement>_`. */
  prefix: string;
  labels: [string, string][];
  /** `{a="b"}` or `""`. */
  suffix: string;
  /** Field key → series (per head: the key depends on both). */
  byField: Map<string, NumberedSeries>;
  /**
   * The raw field keys and series of the last line with this head, by position: Telegraf
   * writes the same fields in the same order, so a key usually matches in place, compared
   * without slicing or hashing it.
   */
  order: { raw: string; series: NumberedSeries }[];
}

const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";
const UINT64_MAX = "18446744073709551615";

/** Removes the line protocol's escapes from a name (`\,` `\ ` `\=` `\\`). */
function unescapeName(s: string): string {
  if (s.indexOf("\\") < 0) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      const n = s[i + 1]!;
      if (n === "," || n === " " || n === "=" || n === "\\") {
        out += n;
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

/** Index of the first `ch` in `s[from, to)` not preceded by an odd run of backslashes. */
function findUnescaped(s: string, ch: string, from: number, to: number, escapes: boolean): number {
  let i = s.indexOf(ch, from);
  while (i >= 0 && i < to) {
    if (!escapes) return i;
    let slashes = 0;
    for (let j = i - 1; j >= from && s.charCodeAt(j) === 92; j--) slashes++;
    if ((slashes & 1) === 0) return i;
    i = s.indexOf(ch, i + 1);
  }
  return -1;
}

/** Parses `measurement[,k=v…]` once per distinct text. */
function parseHead(text: string, escapes: boolean): Head {
  const comma = findUnescaped(text, ",", 0, text.length, escapes);
  const measurementRaw = comma < 0 ? text : text.slice(0, comma);
  const measurement = escapes ? unescapeName(measurementRaw) : measurementRaw;
  if (measurement === "") throw new LineError("missing measurement");
  const labels: [string, string][] = [];
  let pos = comma + 1;
  while (comma >= 0 && pos <= text.length) {
    let end = findUnescaped(text, ",", pos, text.length, escapes);
    if (end < 0) end = text.length;
    const eq = findUnescaped(text, "=", pos, end, escapes);
    if (eq < 0) throw new LineError(`missing tag value in ${JSON.stringify(text.slice(pos, end))}`);
    const k = escapes ? unescapeName(text.slice(pos, eq)) : text.slice(pos, eq);
    const v = escapes ? unescapeName(text.slice(eq + 1, end)) : text.slice(eq + 1, end);
    if (k === "") throw new LineError("missing tag key");
    if (v === "") throw new LineError(`missing tag value for ${JSON.stringify(k)}`);
    if (k === NAME_LABEL) {
      throw new LineError(`tag key ${NAME_LABEL} is reserved for the metric name`);
    }
    labels.push([k, v]);
    pos = end + 1;
  }
  if (labels.length > INFLUX_LINE_ITEMS_MAX) {
    throw new LineError(`too many tags: ${labels.length} (limit ${INFLUX_LINE_ITEMS_MAX})`);
  }
  labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 1; i < labels.length; i++) {
    if (labels[i]![0] === labels[i - 1]![0]) {
      throw new LineError(`duplicate tag ${JSON.stringify(labels[i]![0])}`);
    }
  }
  try {
    checkLabels(measurement, labels);
  } catch (err) {
    if (err instanceof LabelError) throw new LineError(err.message);
    throw err;
  }
  const suffix = labels.length === 0 ? "" : seriesKey("", labels, true);
  return { prefix: measurement + "_", labels, suffix, byField: new Map(), order: [] };
}

/** Result of the last `scanInt` (module state, so scanning allocates nothing per field). */
const scanned = { neg: false, head: 0, restNonZero: false, digits: 0 };

/**
 * Scans an optional sign and decimal digits in `s[from, to)` into `scanned`: the value of all
 * digits but the last `drop` (exact below 2^53), whether a dropped digit was not zero, and the
 * number of digits. Returns false when the text is not an integer.
 */
function scanInt(s: string, from: number, to: number, drop: number): boolean {
  let i = from;
  let neg = false;
  const c0 = s.charCodeAt(i);
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    i++;
  }
  const digits = to - i;
  if (digits <= 0) return false;
  let head = 0;
  let restNonZero = false;
  for (let k = 0; i < to; i++, k++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (k < digits - drop) head = head * 10 + d;
    else if (d !== 0) restNonZero = true;
  }
  scanned.neg = neg;
  scanned.head = head;
  scanned.restNonZero = restNonZero;
  scanned.digits = digits;
  return true;
}

/** True when the digits of `s[from, to)` (sign allowed) fit `max` (decimal, no sign). */
function fitsDigits(s: string, from: number, to: number, max: string): boolean {
  let i = from;
  const c0 = s.charCodeAt(i);
  if (c0 === 45 || c0 === 43) i++;
  while (i < to - 1 && s.charCodeAt(i) === 48) i++;
  const n = to - i;
  if (n !== max.length) return n < max.length;
  return s.slice(i, to) <= max;
}

/** Milliseconds of the integer timestamp `s[from, to)` in `precision`, rounding down. */
function timestampMs(s: string, from: number, to: number, precision: InfluxPrecision): number {
  const drop = precision === "ns" || precision === "n"
    ? 6
    : precision === "us" || precision === "u"
    ? 3
    : 0;
  if (!scanInt(s, from, to, drop)) {
    throw new LineError(
      `invalid timestamp ${JSON.stringify(s.slice(from, Math.min(to, from + 40)))}`,
    );
  }
  const t = scanned;
  if (t.digits > 18 && !fitsDigits(s, from, to, INT64_MAX)) {
    throw new LineError(`timestamp out of range: ${s.slice(from, Math.min(to, from + 40))}`);
  }
  let ms: number;
  if (drop > 0) ms = t.neg ? -t.head - (t.restNonZero ? 1 : 0) : t.head;
  else {
    const mul = precision === "ms"
      ? 1
      : precision === "s"
      ? 1000
      : precision === "m"
      ? 60_000
      : 3_600_000;
    ms = (t.neg ? -t.head : t.head) * mul;
  }
  if (!Number.isSafeInteger(ms)) {
    throw new LineError(`timestamp out of range: ${s.slice(from, Math.min(to, from + 40))}`);
  }
  return ms;
}

/** True when `s[from, to)` is a decimal float (`-1.5`, `.5`, `1e-3`, `7`). */
function isFloatText(s: string, from: number, to: number): boolean {
  let i = from;
  let c = s.charCodeAt(i);
  if (c === 45 || c === 43) c = s.charCodeAt(++i);
  let mantissa = 0;
  while (i < to && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
    i++;
    mantissa++;
  }
  if (i < to && s.charCodeAt(i) === 46) {
    i++;
    while (i < to && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
      i++;
      mantissa++;
    }
  }
  if (mantissa === 0) return false;
  if (i < to && ((c = s.charCodeAt(i)) === 101 || c === 69)) {
    i++;
    c = s.charCodeAt(i);
    if (c === 45 || c === 43) i++;
    let exp = 0;
    while (i < to && (c = s.charCodeAt(i)) >= 48 && c <= 57) {
      i++;
      exp++;
    }
    if (exp === 0) return false;
  }
  return i === to;
}

/** Most samples `parseInflux` makes room for before it has seen them (then it grows). */
const SAMPLES_GUESS_MAX = 1 << 20;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * The value of a plain decimal `s[from, to)` (`-12.345`, `7`, `.5`: sign, at most 15 digits,
 * an optional point, no exponent), or NaN for anything else (left to `Number`). Exact: the
 * digits as an integer and 10^k are both exact doubles (below 2^53 and 10^22), so their IEEE
 * quotient is the correctly rounded value of the decimal, which is what `Number` returns.
 */
function decimalValue(s: string, from: number, to: number): number {
  let i = from;
  let c = s.charCodeAt(i);
  const neg = c === 45;
  if (neg || c === 43) i++;
  let m = 0;
  let digits = 0;
  let point = -1;
  for (; i < to; i++) {
    c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      digits++;
    } else if (c === 46 && point < 0) point = digits;
    else return NaN;
  }
  if (digits === 0 || digits > 15) return NaN;
  const v = point < 0 ? m : m / POW10[digits - point]!;
  return neg ? -v : v;
}

/** Parses a body; `nowMs` stamps lines without a timestamp. */
export function parseInflux(body: string, precision: InfluxPrecision, nowMs: number): InfluxBatch {
  const escapes = body.indexOf("\\") >= 0;
  const heads = new Map<string, Head>();
  // Room for the samples a body of this size usually holds (a Telegraf field takes ~20
  // characters), so that big batches rarely grow their columns.
  let cap = Math.min(SAMPLES_GUESS_MAX, Math.max(1024, Math.ceil(body.length / 16)));
  const series: IngestSeries[] = [];
  const distinct: IngestSeries[] = [];
  let ids = new Int32Array(cap);
  let timestamps = new Float64Array(cap);
  let values = new Float64Array(cap);
  let n = 0;
  const out: InfluxBatch = {
    samples: 0,
    series,
    distinct,
    seriesIds: ids,
    timestamps,
    values,
    errors: [],
    lines: 0,
    stringFieldsSkipped: 0,
    inexactIntegers: 0,
  };
  const grow = () => {
    cap *= 2;
    const t = new Float64Array(cap);
    t.set(timestamps);
    timestamps = t;
    const v = new Float64Array(cap);
    v.set(values);
    values = v;
    const d = new Int32Array(cap);
    d.set(ids);
    ids = d;
  };
  let pos = 0;
  let lineNo = 0;
  const len = body.length;
  while (pos < len) {
    let end = body.indexOf("\n", pos);
    if (end < 0) end = len;
    lineNo++;
    const lineStart = n;
    try {
      parseLine(pos, end);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      n = lineStart;
      series.length = n;
      out.errors.push({ line: lineNo, message: err.message });
    }
    pos = end + 1;
  }
  out.lines = lineNo;
  out.samples = n;
  out.series = series;
  out.seriesIds = ids.subarray(0, n);
  out.timestamps = timestamps.subarray(0, n);
  out.values = values.subarray(0, n);
  return out;

  function parseLine(start: number, end: number): void {
    let s = start;
    let e = end;
    if (e > s && body.charCodeAt(e - 1) === 13) e--; // \r\n
    while (s < e && (body.charCodeAt(s) === 32 || body.charCodeAt(s) === 9)) s++;
    if (s === e || body.charCodeAt(s) === 35) return; // blank or # comment
    if (e - s > INFLUX_LINE_BYTES_MAX) {
      throw new LineError(`line too long: ${e - s} characters (limit ${INFLUX_LINE_BYTES_MAX})`);
    }
    const sp = findUnescaped(body, " ", s, e, escapes);
    if (sp < 0) throw new LineError("missing fields");
    const headText = body.slice(s, sp);
    let head = heads.get(headText);
    if (!head) {
      head = parseHead(headText, escapes);
      heads.set(headText, head);
    }
    let p = sp + 1;
    while (p < e && body.charCodeAt(p) === 32) p++;
    if (p >= e) throw new LineError("missing fields");
    // Fields: k=v pairs separated by commas, ending at the first unquoted space.
    const firstSample = n;
    let fields = 0;
    for (;;) {
      const eq = findUnescaped(body, "=", p, e, escapes);
      if (eq < 0) {
        throw new LineError(
          `missing field value in ${JSON.stringify(body.slice(p, Math.min(e, p + 40)))}`,
        );
      }
      if (eq === p) throw new LineError("missing field key");
      const keyStart = p;
      let v = eq + 1;
      let valueEnd: number;
      let value = 0;
      const isString = body.charCodeAt(v) === 34;
      if (isString) {
        // A string field: find the closing quote not escaped by a backslash.
        let q = v + 1;
        for (;;) {
          q = body.indexOf('"', q);
          if (q < 0 || q >= e) throw new LineError("unterminated string field value");
          let slashes = 0;
          for (let j = q - 1; j > v && body.charCodeAt(j) === 92; j--) slashes++;
          if ((slashes & 1) === 0) break;
          q++;
        }
        valueEnd = q + 1;
        out.stringFieldsSkipped++;
      } else {
        valueEnd = v;
        while (valueEnd < e) {
          const c = body.charCodeAt(valueEnd);
          if (c === 44 || c === 32) break;
          valueEnd++;
        }
        value = fieldValue(v, valueEnd, keyStart, eq);
      }
      if (++fields > INFLUX_LINE_ITEMS_MAX) {
        throw new LineError(`too many fields: more than ${INFLUX_LINE_ITEMS_MAX}`);
      }
      if (!isString) {
        const known = head.order[fields - 1];
        let s1: NumberedSeries | undefined;
        if (known && known.raw.length === eq - keyStart && body.startsWith(known.raw, keyStart)) {
          s1 = known.series;
        } else {
          const keyRaw = body.slice(keyStart, eq);
          s1 = head.byField.get(keyRaw);
          if (!s1) {
            const name = head.prefix + (escapes ? unescapeName(keyRaw) : keyRaw);
            s1 = { key: name + head.suffix, name, labels: head.labels, id: distinct.length };
            distinct.push(s1);
            head.byField.set(keyRaw, s1);
          }
          head.order[fields - 1] = { raw: keyRaw, series: s1 };
        }
        if (n === cap) grow();
        series[n] = s1;
        ids[n] = s1.id;
        values[n] = value;
        n++;
      }
      v = valueEnd;
      if (v >= e || body.charCodeAt(v) === 32) {
        p = v;
        break;
      }
      p = v + 1; // after the comma
      if (p >= e) throw new LineError("missing field after comma");
    }
    while (p < e && body.charCodeAt(p) === 32) p++;
    let ts = nowMs;
    if (p < e) {
      let te = e;
      while (te > p && body.charCodeAt(te - 1) === 32) te--;
      ts = timestampMs(body, p, te, precision);
    }
    for (let i = firstSample; i < n; i++) timestamps[i] = ts;
  }

  /** Refuses a field value (a function, not a closure made per field: fields are hot). */
  function badField(what: string, from: number, to: number, keyFrom: number, keyTo: number): never {
    throw new LineError(
      `invalid ${what} ${JSON.stringify(body.slice(from, Math.min(to, from + 40)))} for ${
        body.slice(keyFrom, keyTo)
      }`,
    );
  }

  function fieldValue(from: number, to: number, keyFrom: number, keyTo: number): number {
    const last = body.charCodeAt(to - 1);
    if (to <= from) badField("field value", from, to, keyFrom, keyTo);
    if (last === 105 || last === 117) {
      // 105 'i' (int64), 117 'u' (uint64)
      const ok = scanInt(body, from, to - 1, 0);
      const t = scanned;
      if (!ok || (last === 117 && body.charCodeAt(from) === 45)) {
        badField(
          last === 105 ? "integer field value" : "unsigned field value",
          from,
          to,
          keyFrom,
          keyTo,
        );
      }
      if (t.digits <= 15) return t.neg ? -t.head : t.head;
      const max = last === 117 ? UINT64_MAX : t.neg ? INT64_MIN_ABS : INT64_MAX;
      if (!fitsDigits(body, from, to - 1, max)) {
        badField("integer field value (out of range)", from, to, keyFrom, keyTo);
      }
      const num = Number(body.slice(from, to - 1));
      if (!Number.isSafeInteger(num)) out.inexactIntegers++;
      return num;
    }
    const c0 = body.charCodeAt(from);
    if (c0 === 116 || c0 === 84 || c0 === 102 || c0 === 70) {
      // t T f F: a boolean (true True TRUE t T, false False FALSE f F)
      const text = body.slice(from, to);
      switch (text) {
        case "t":
        case "T":
        case "true":
        case "True":
        case "TRUE":
          return 1;
        case "f":
        case "F":
        case "false":
        case "False":
        case "FALSE":
          return 0;
      }
      badField("field value", from, to, keyFrom, keyTo);
    }
    const quick = decimalValue(body, from, to);
    if (quick === quick) return quick; // not NaN: a plain decimal, converted exactly
    if (!isFloatText(body, from, to)) badField("field value", from, to, keyFrom, keyTo);
    const num = Number(body.slice(from, to));
    if (!Number.isFinite(num)) badField("field value (out of range)", from, to, keyFrom, keyTo);
    return num;
  }
}
