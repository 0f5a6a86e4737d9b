/**
 * Time-series routes of the HTTP API (ARCHITECTURE.md § "Time-series HTTP routes"): thin
 * adapters over `TimeSeriesStore`, with the key routes' authentication, validation and error
 * shapes (`{"error": "…"}`).
 *
 * ```
 * GET    /v1/series?filter=…&limit=N         series and their labels
 * GET    /v1/series/{key}                    TS.INFO as JSON
 * GET    /v1/series/{key}/samples?from=&to=&aggregation=&bucket_ms=&align=&count=&reverse=
 *                                            JSON, or CSV with Accept: text/csv
 * POST   /v1/series/{key}/samples            {"samples": [[ts, value], …], "labels"?: {…}, …}
 * DELETE /v1/series/{key}/samples?from=&to=  deletes a time range
 * ```
 *
 * @module
 */

import { keyGuardOf } from "../server/key_guard.ts";
import {
  type Aggregator,
  AGGREGATORS,
  binaryString,
  binaryToText,
  DUPLICATE_POLICIES,
  type DuplicatePolicy,
  FilterError,
  parseFilters,
  type RangeArgs,
  type TimeSeriesStore,
  TsError,
} from "../timeseries/mod.ts";
import {
  HTTP_LIST_LIMIT_MAX,
  HTTP_SERIES_BODY_BYTES_MAX,
  TS_LABELS_MAX,
  TS_SAMPLES_PER_WRITE_MAX,
} from "../limits.ts";
import { isObject, readJson } from "./_input.ts";
import type { IncomingRequest } from "./_h1_body.ts";
import type { JsonLimits } from "./_json.ts";
import { HttpError, jsonResponse, textResponse } from "./_response.ts";
import type { QueryParams } from "./_url.ts";

/** What a series handler gets. */
export interface SeriesContext {
  /** The layer served. */
  timeseries: TimeSeriesStore;
  /** The request. */
  req: IncomingRequest;
  /** Query parameters. */
  query: QueryParams;
  /** The series key (`{key}`), raw bytes. */
  key: Uint8Array;
  /** Body limit cap (`bodySizeBytesMax`). */
  bodySizeBytesMax: number;
}

const MAX = Number.MAX_SAFE_INTEGER - 1;

/**
 * Bounds of a samples body: `{"samples": [[ts, v], …], "labels": {…}, …}` is 3 levels deep; 3
 * values per sample, one per label, a few options. One sample past the limit still parses, so
 * that the sample count gets its own 413.
 */
const SAMPLES_JSON_LIMITS: JsonLimits = {
  depthMax: 3,
  valuesMax: (TS_SAMPLES_PER_WRITE_MAX + 1) * 3 + TS_LABELS_MAX + 16,
};
const LIST_LIMIT_DEFAULT = 1000;

/** A store refusal as an HTTP error: 404 missing key, 409 another type, 403 read-only, else 400. */
function fromTsError(err: unknown): unknown {
  if (err instanceof FilterError) {
    return new HttpError(400, `Invalid filter: ${err.message.replace(/^TSDB: /, "")}`);
  }
  if (!(err instanceof TsError)) return err;
  const text = err.reply.replace(/^ERR /, "").replace(/^TSDB: /, "");
  if (err.reply.startsWith("READONLY")) {
    return new HttpError(403, "Cannot write: this server is a read-only replica");
  }
  if (text.includes("key does not exist")) return new HttpError(404, "Series not found");
  if (text.includes("WRONGTYPE") || text.includes("not a TSDB key")) {
    return new HttpError(409, "Key holds another type, not a time series");
  }
  return new HttpError(400, text.charAt(0).toUpperCase() + text.slice(1));
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromTsError(err);
  }
}

function labelsObject(labels: readonly [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of labels) out[binaryToText(k)] = binaryToText(v);
  return out;
}

function intParam(q: QueryParams, name: string, fallback: number, min = 0): number {
  const s = q.string(name);
  if (s === undefined || s === "") return fallback;
  if (!/^\d{1,16}$/.test(s) || Number(s) < min || Number(s) > MAX) {
    throw new HttpError(
      400,
      `Invalid query parameter ${name}: ${s} (must be an integer from ${min})`,
    );
  }
  return Number(s);
}

/** `GET /v1/series?filter=expr+expr…&limit=N`: filters are separated by spaces (`+`). */
export function listSeries(ctx: SeriesContext): Response {
  const text = ctx.query.string("filter") ?? "";
  const exprs = text.split(/\s+/).filter((e) => e.length > 0);
  const limit = intParam(ctx.query, "limit", LIST_LIMIT_DEFAULT, 1);
  if (limit > HTTP_LIST_LIMIT_MAX) {
    throw new HttpError(
      400,
      `Invalid query parameter limit: ${limit} (limit ${HTTP_LIST_LIMIT_MAX})`,
    );
  }
  const store = ctx.timeseries;
  const selected = guard(() =>
    exprs.length === 0
      ? store.all()
      : store.select(parseFilters(exprs.map((e) => binaryString(new TextEncoder().encode(e)))))
  );
  return jsonResponse(200, {
    series: selected.slice(0, limit).map((s) => ({
      key: binaryToText(s.keyString),
      labels: labelsObject(s.meta.labels),
    })),
    truncated: selected.length > limit,
  });
}

/** `GET /v1/series/{key}`: TS.INFO as JSON. */
export function seriesInfo(ctx: SeriesContext): Response {
  const i = guard(() => ctx.timeseries.info(ctx.key));
  const text = (b: Uint8Array | undefined) => b === undefined ? null : new TextDecoder().decode(b);
  return jsonResponse(200, {
    key: new TextDecoder().decode(ctx.key),
    totalSamples: i.totalSamples,
    firstTimestamp: i.firstTimestamp,
    lastTimestamp: i.lastTimestamp,
    retentionMs: i.retentionTime,
    chunkCount: i.chunkCount,
    chunkSize: i.chunkSize,
    duplicatePolicy: i.duplicatePolicy ?? null,
    labels: labelsObject(i.labels),
    sourceKey: text(i.sourceKey),
    rules: i.rules.map((r) => ({
      key: text(r.key),
      aggregator: r.aggregator,
      bucketMs: r.bucketMs,
      alignMs: r.alignMs,
    })),
  });
}

function rangeArgs(q: QueryParams): RangeArgs {
  const from = intParam(q, "from", 0);
  const to = intParam(q, "to", MAX);
  const args: RangeArgs = { from, to };
  const agg = q.string("aggregation");
  if (agg !== undefined && agg !== "") {
    const a = agg.toLowerCase();
    if (!(AGGREGATORS as readonly string[]).includes(a) || a === "") {
      throw new HttpError(
        400,
        `Invalid query parameter aggregation: ${agg} (one of ${AGGREGATORS.slice(1).join(", ")})`,
      );
    }
    const bucketMs = intParam(q, "bucket_ms", 0, 1);
    if (bucketMs === 0) {
      throw new HttpError(400, "Missing query parameter bucket_ms (with aggregation)");
    }
    args.aggregation = {
      aggregator: a as Aggregator,
      bucketMs,
      alignMs: intParam(q, "align", 0),
      empty: false,
      bucketTimestamp: "start",
    };
  } else if (q.has("bucket_ms")) {
    throw new HttpError(400, "Query parameter bucket_ms needs aggregation");
  }
  if (q.has("count")) args.count = intParam(q, "count", 0, 1);
  const reverse = q.string("reverse");
  if (reverse === "true" || reverse === "1") args.reverse = true;
  else if (reverse !== undefined && reverse !== "false" && reverse !== "0") {
    throw new HttpError(400, `Invalid query parameter reverse: ${reverse} (true or false)`);
  }
  return args;
}

/** `GET /v1/series/{key}/samples`: JSON `{"key", "samples": [[ts, value], …]}` or CSV. */
export function getSamples(ctx: SeriesContext): Response {
  const args = rangeArgs(ctx.query);
  const points = guard(() => ctx.timeseries.range(ctx.key, args));
  const accept = ctx.req.headers.get("accept") ?? "";
  if (/\btext\/csv\b/i.test(accept)) {
    const lines = ["timestamp,value"];
    for (let i = 0; i < points.ts.length; i++) {
      lines.push(`${points.ts[i]},${csvNumber(points.values[i]!)}`);
    }
    return textResponse(200, lines.join("\n") + "\n", "text/csv; charset=utf-8");
  }
  return jsonResponse(200, {
    key: new TextDecoder().decode(ctx.key),
    samples: points.ts.map((t, i) => [t, jsonNumber(points.values[i]!)]),
  });
}

function jsonNumber(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function csvNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : "NaN";
}

/**
 * `POST /v1/series/{key}/samples` with `{"samples": [[ts, value], …]}` (ts an integer, or
 * `"*"` for now); a missing series is created with `labels` (object), `retention_ms` and
 * `duplicate_policy`; `on_duplicate` overrides the policy for this write. Answers
 * `{"added": n, "errors": [{"index": i, "error": "…"}]}` (per-sample refusals, as TS.MADD).
 */
export async function postSamples(ctx: SeriesContext): Promise<Response> {
  refuseGuardedKey(ctx);
  const limit = Math.min(HTTP_SERIES_BODY_BYTES_MAX, ctx.bodySizeBytesMax);
  const body = await readJson(
    ctx.req,
    limit,
    limit < HTTP_SERIES_BODY_BYTES_MAX
      ? "the server's bodySizeBytesMax option"
      : "the largest batch of samples",
    SAMPLES_JSON_LIMITS,
  );
  if (!isObject(body)) {
    throw new HttpError(400, 'Invalid body: must be a JSON object {"samples": [[ts, value], …]}');
  }
  for (const field of Object.keys(body)) {
    if (
      !["samples", "labels", "retention_ms", "duplicate_policy", "on_duplicate"].includes(field)
    ) {
      throw new HttpError(400, `Invalid body: unknown field ${JSON.stringify(field)}`);
    }
  }
  const raw = body.samples;
  if (!Array.isArray(raw)) {
    throw new HttpError(400, "Invalid body: samples must be an array of [timestamp, value]");
  }
  if (raw.length > TS_SAMPLES_PER_WRITE_MAX) {
    throw new HttpError(413, `Too many samples: ${raw.length} (limit ${TS_SAMPLES_PER_WRITE_MAX})`);
  }
  const samples = raw.map((s, i) => {
    if (!Array.isArray(s) || s.length !== 2) {
      throw new HttpError(400, `Invalid sample ${i}: must be [timestamp, value]`);
    }
    const [t, v] = s;
    const ts = t === "*" ? undefined : t;
    if (ts !== undefined && (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0)) {
      throw new HttpError(
        400,
        `Invalid sample ${i}: timestamp must be a non-negative integer (ms) or "*"`,
      );
    }
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new HttpError(400, `Invalid sample ${i}: value must be a finite number`);
    }
    return { key: ctx.key, ts, value: v };
  });
  const policy = (name: string): DuplicatePolicy | undefined => {
    const p = body[name];
    if (p === undefined) return undefined;
    if (
      typeof p !== "string" ||
      !(DUPLICATE_POLICIES as readonly string[]).includes(p.toLowerCase()) || p === ""
    ) {
      throw new HttpError(
        400,
        `Invalid body: ${name} must be one of ${DUPLICATE_POLICIES.slice(1).join(", ")}`,
      );
    }
    return p.toLowerCase() as DuplicatePolicy;
  };
  const duplicatePolicy = policy("duplicate_policy");
  const onDuplicate = policy("on_duplicate");
  const labels: [string, string][] = [];
  if (body.labels !== undefined) {
    if (!isObject(body.labels)) {
      throw new HttpError(400, "Invalid body: labels must be an object of strings");
    }
    for (const [k, v] of Object.entries(body.labels)) {
      if (typeof v !== "string" || k === "" || v === "") {
        throw new HttpError(400, "Invalid body: labels must be an object of non-empty strings");
      }
      const enc = new TextEncoder();
      labels.push([binaryString(enc.encode(k)), binaryString(enc.encode(v))]);
    }
  }
  const retention = body.retention_ms;
  if (
    retention !== undefined &&
    (typeof retention !== "number" || !Number.isSafeInteger(retention) || retention < 0)
  ) {
    throw new HttpError(400, "Invalid body: retention_ms must be a non-negative integer");
  }
  const store = ctx.timeseries;
  const errors: { index: number; error: string }[] = [];
  let added = 0;
  const written = guard(() =>
    store.write(ctx.key, samples, {
      create: {
        labels,
        ...(retention !== undefined ? { retentionMs: retention as number } : {}),
        ...(duplicatePolicy ? { duplicatePolicy } : {}),
      },
      ...(onDuplicate ? { onDuplicate } : {}),
    })
  );
  written.value.forEach((r, i) => {
    if (typeof r === "number") added++;
    else errors.push({ index: i, error: r.reply.replace(/^ERR /, "").replace(/^TSDB: /, "") });
  });
  await written.durable;
  return jsonResponse(200, { added, errors });
}

/**
 * A role's key guard (`src/server/key_guard.ts`; a fleet hub's site namespaces) refuses the
 * write with 403 before the time-series layer sees it.
 */
function refuseGuardedKey(ctx: SeriesContext): void {
  const refusal = keyGuardOf(ctx.timeseries.context.db)?.(ctx.key);
  if (refusal !== undefined) throw new HttpError(403, refusal.replace(/^ERR /, ""));
}

/** `DELETE /v1/series/{key}/samples?from=&to=`: `{"deleted": n}`. */
export async function deleteSamples(ctx: SeriesContext): Promise<Response> {
  refuseGuardedKey(ctx);
  if (!ctx.query.has("from") || !ctx.query.has("to")) {
    throw new HttpError(400, "Missing query parameters from and to (a deletion needs both)");
  }
  const from = intParam(ctx.query, "from", 0);
  const to = intParam(ctx.query, "to", MAX);
  const r = guard(() => ctx.timeseries.del(ctx.key, from, to));
  await r.durable;
  return jsonResponse(200, { deleted: r.value });
}
