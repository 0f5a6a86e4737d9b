/**
 * The Prometheus HTTP query API as pure handlers (ARCHITECTURE.md § "Prometheus query API"):
 * each takes the request's form parameters and a `SeriesSource` and returns the status and
 * JSON text Prometheus 2.42 would send. `PROM_API_ROUTES` is the routing table the HTTP server
 * mounts; `promApiParams` builds the parameters from a `Request` (GET query string, POST form
 * body).
 *
 * Responses: `{"status":"success","data":…}` or
 * `{"status":"error","errorType":"bad_data","error":"…"}` with Prometheus's status codes:
 * `bad_data` 400, `execution` 422, `timeout`/`canceled` 503, `internal` 500, `not_found` 404.
 *
 * @module
 */

import {
  FormParams,
  MAX_TIME_MS,
  MIN_TIME_MS,
  ParamError,
  parseDuration,
  parseTime,
} from "./_api_params.ts";
import type { QueryOptions, QueryResult } from "./engine.ts";
import { instantQuery, rangeQuery } from "./query.ts";
import { QueryError, QueryTimeoutError, QueryTypeError } from "./errors.ts";
import { formatTimestamp, formatValue } from "./format.ts";
import {
  compareLabels,
  isValidLabelName,
  type Labels,
  type Matcher,
  matchValue,
} from "./labels.ts";
import { ParseError } from "./lexer.ts";
import { parseSelector } from "./parser.ts";
import type { SeriesSource } from "./source.ts";
import {
  PROM_API_FORM_BODY_BYTES_MAX,
  PROM_API_MATCH_SELECTORS_MAX,
  PROMQL_QUERY_POINTS_MAX,
} from "../limits.ts";
import { VERSION } from "../version.ts";

export { FormParams } from "./_api_params.ts";

/** A handler's answer: HTTP status and the JSON body text. */
export interface PromApiResponse {
  status: number;
  json: string;
}

/** What handlers need besides the parameters. */
export interface PromApiContext {
  /** Where series come from. */
  source: SeriesSource;
  /** Current time in ms (default `Date.now`). */
  now?: () => number;
  /** Engine settings. */
  engine?: QueryOptions;
}

/** A handler. */
export type PromApiHandler = (params: FormParams, ctx: PromApiContext) => PromApiResponse;

/** The Prometheus version whose API and PromQL semantics CityHall follows. */
export const PROMETHEUS_COMPAT_VERSION = "2.42.0";

/** `Content-Type` of every answer. */
export const PROM_API_CONTENT_TYPE = "application/json";

type ErrorType = "bad_data" | "execution" | "timeout" | "canceled" | "internal" | "not_found";

const STATUS: Record<ErrorType, number> = {
  bad_data: 400,
  execution: 422,
  timeout: 503,
  canceled: 503,
  internal: 500,
  not_found: 404,
};

/** An error answer. */
export function apiError(type: ErrorType, message: string): PromApiResponse {
  return {
    status: STATUS[type],
    json: `{"status":"error","errorType":"${type}","error":${JSON.stringify(message)}}`,
  };
}

function success(dataJson: string): PromApiResponse {
  return { status: 200, json: `{"status":"success","data":${dataJson}}` };
}

function invalidParam(name: string, message: string): PromApiResponse {
  return apiError("bad_data", `invalid parameter ${JSON.stringify(name)}: ${message}`);
}

function labelsJson(l: Labels): string {
  let out = "{";
  for (let i = 0; i < l.size; i++) {
    if (i > 0) out += ",";
    out += JSON.stringify(l.names[i]) + ":" + JSON.stringify(l.values[i]);
  }
  return out + "}";
}

function pointJson(t: number, v: string): string {
  return `[${formatTimestamp(t)},"${v}"]`;
}

/** Serialises a query result as Prometheus's `data` object. */
export function resultJson(r: QueryResult): string {
  let body: string;
  switch (r.resultType) {
    case "scalar":
      body = pointJson(r.result.t, formatValue(r.result.v));
      break;
    case "string":
      body = `[${formatTimestamp(r.result.t)},${JSON.stringify(r.result.v)}]`;
      break;
    case "vector":
      body = "[" +
        r.result.map((s) =>
          `{"metric":${labelsJson(s.labels)},"value":${pointJson(s.t, formatValue(s.v))}}`
        ).join(",") + "]";
      break;
    case "matrix": {
      const parts: string[] = [];
      for (const s of r.result) {
        const points: string[] = new Array(s.ts.length);
        for (let i = 0; i < s.ts.length; i++) {
          points[i] = pointJson(s.ts[i]!, formatValue(s.vs[i]!));
        }
        parts.push(`{"metric":${labelsJson(s.labels)},"values":[${points.join(",")}]}`);
      }
      body = "[" + parts.join(",") + "]";
    }
  }
  return `{"resultType":"${r.resultType}","result":${body}}`;
}

/** Maps an evaluation failure to Prometheus's error type. */
function queryFailure(err: unknown, parseParam?: string): PromApiResponse {
  if (err instanceof ParseError) {
    return parseParam ? invalidParam(parseParam, err.message) : apiError("bad_data", err.message);
  }
  if (err instanceof QueryTypeError) return apiError("bad_data", err.message);
  if (err instanceof QueryTimeoutError) return apiError("timeout", err.message);
  if (err instanceof QueryError) return apiError("execution", err.message);
  if (err instanceof RangeError) return apiError("execution", err.message);
  throw err;
}

function timeoutOpts(params: FormParams, ctx: PromApiContext): QueryOptions | PromApiResponse {
  const to = params.get("timeout");
  const base = ctx.engine ?? {};
  if (to === "") return base;
  try {
    const ms = parseDuration(to);
    return { ...base, timeoutMs: Math.min(ms, base.timeoutMs ?? Infinity) };
  } catch (err) {
    return invalidParam("timeout", (err as Error).message);
  }
}

/** `/api/v1/query`. */
export function queryHandler(params: FormParams, ctx: PromApiContext): PromApiResponse {
  let time: number;
  const t = params.get("time");
  try {
    time = t === "" ? (ctx.now ?? Date.now)() : parseTime(t);
  } catch (err) {
    return invalidParam("time", `Invalid time value for 'time': ${(err as Error).message}`);
  }
  const opts = timeoutOpts(params, ctx);
  if ("status" in opts) return opts;
  try {
    return success(resultJson(instantQuery(ctx.source, params.get("query"), time, opts)));
  } catch (err) {
    return queryFailure(err, "query");
  }
}

/** `/api/v1/query_range`. */
export function queryRangeHandler(params: FormParams, ctx: PromApiContext): PromApiResponse {
  let start: number;
  let end: number;
  let step: number;
  try {
    start = parseTime(params.get("start"));
  } catch (err) {
    return invalidParam("start", (err as Error).message);
  }
  try {
    end = parseTime(params.get("end"));
  } catch (err) {
    return invalidParam("end", (err as Error).message);
  }
  if (end < start) return invalidParam("end", "end timestamp must not be before start time");
  try {
    step = parseDuration(params.get("step"));
  } catch (err) {
    return invalidParam("step", (err as Error).message);
  }
  if (step <= 0) {
    return invalidParam(
      "step",
      "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
  }
  if (Math.floor((end - start) / step) > PROMQL_QUERY_POINTS_MAX) {
    return apiError(
      "bad_data",
      "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
  }
  const opts = timeoutOpts(params, ctx);
  if ("status" in opts) return opts;
  try {
    return success(resultJson(rangeQuery(ctx.source, params.get("query"), start, end, step, opts)));
  } catch (err) {
    return queryFailure(err);
  }
}

function timeRange(params: FormParams): [number, number] | PromApiResponse {
  const out: number[] = [];
  for (const [name, fallback] of [["start", MIN_TIME_MS], ["end", MAX_TIME_MS]] as const) {
    const v = params.get(name);
    try {
      out.push(v === "" ? fallback : parseTime(v));
    } catch (err) {
      return invalidParam(name, `Invalid time value for '${name}': ${(err as Error).message}`);
    }
  }
  return [out[0]!, out[1]!];
}

/** Parses `match[]` selectors; each must have a matcher that does not match the empty string. */
function matcherSets(params: FormParams): Matcher[][] | string {
  const texts = params.all("match[]");
  if (texts.length > PROM_API_MATCH_SELECTORS_MAX) {
    return `too many match[] selectors: ${texts.length} (limit ${PROM_API_MATCH_SELECTORS_MAX})`;
  }
  const sets: Matcher[][] = [];
  for (const text of texts) {
    try {
      sets.push(parseSelector(text));
    } catch (err) {
      return (err as Error).message;
    }
  }
  for (const set of sets) {
    if (!set.some((m) => !matchValue(m, ""))) {
      return "match[] must contain at least one non-empty matcher";
    }
  }
  return sets;
}

function stringsJson(values: Iterable<string>): string {
  return "[" + [...values].map((v) => JSON.stringify(v)).join(",") + "]";
}

/** `/api/v1/labels`. */
export function labelsHandler(params: FormParams, ctx: PromApiContext): PromApiResponse {
  const range = timeRange(params);
  if (!Array.isArray(range)) return range;
  const sets = matcherSets(params);
  if (typeof sets === "string") return apiError("bad_data", sets);
  const names = new Set<string>();
  for (const set of sets.length > 0 ? sets : [[]]) {
    for (const n of ctx.source.labelNames(set, range[0], range[1])) names.add(n);
  }
  return success(stringsJson([...names].sort()));
}

/** `/api/v1/label/<name>/values`. */
export function labelValuesHandler(
  name: string,
  params: FormParams,
  ctx: PromApiContext,
): PromApiResponse {
  if (!isValidLabelName(name)) {
    return apiError("bad_data", `invalid label name: ${JSON.stringify(name)}`);
  }
  const range = timeRange(params);
  if (!Array.isArray(range)) return range;
  const sets = matcherSets(params);
  if (typeof sets === "string") return apiError("bad_data", sets);
  const values = new Set<string>();
  for (const set of sets.length > 0 ? sets : [[]]) {
    for (const v of ctx.source.labelValues(name, set, range[0], range[1])) values.add(v);
  }
  return success(stringsJson([...values].sort()));
}

/** `/api/v1/series`. */
export function seriesHandler(params: FormParams, ctx: PromApiContext): PromApiResponse {
  if (params.all("match[]").length === 0) {
    return apiError("bad_data", "no match[] parameter provided");
  }
  const range = timeRange(params);
  if (!Array.isArray(range)) return range;
  const sets = matcherSets(params);
  if (typeof sets === "string") return invalidParam("match[]", sets);
  const found = new Map<string, Labels>();
  for (const set of sets) {
    for (const s of ctx.source.select(set, range[0], range[1])) found.set(s.labels.key(), s.labels);
  }
  const list = [...found.values()].sort(compareLabels);
  return success("[" + list.map(labelsJson).join(",") + "]");
}

/** `/api/v1/metadata`: CityHall keeps no metric metadata, so the map is empty. */
export function metadataHandler(params: FormParams, _ctx: PromApiContext): PromApiResponse {
  const limit = params.get("limit");
  if (limit !== "" && !/^[+-]?\d+$/.test(limit)) {
    return apiError("bad_data", "limit must be a number");
  }
  return success("{}");
}

/** `/api/v1/status/buildinfo`: Prometheus's shape; `version` is the API level followed. */
export function buildInfoHandler(_params: FormParams, _ctx: PromApiContext): PromApiResponse {
  return success(JSON.stringify({
    version: PROMETHEUS_COMPAT_VERSION,
    revision: `cityhall-${VERSION}`,
    branch: "cityhall",
    buildUser: "cityhall",
    buildDate: "",
    goVersion: `deno-${typeof Deno !== "undefined" ? Deno.version.deno : "unknown"}`,
  }));
}

/** One route of the API. */
export interface PromApiRoute {
  /** Methods served (others get 405 from the server). */
  readonly methods: readonly string[];
  /** Path pattern; `:name` captures one path segment. */
  readonly path: string;
  /** The handler; `pathParams` holds the captures. */
  readonly handle: (
    params: FormParams,
    ctx: PromApiContext,
    pathParams: Record<string, string>,
  ) => PromApiResponse;
}

/** The routes, as Prometheus 2.42 registers them (GET and POST where Prometheus has both). */
export const PROM_API_ROUTES: readonly PromApiRoute[] = [
  { methods: ["GET", "POST"], path: "/api/v1/query", handle: queryHandler },
  { methods: ["GET", "POST"], path: "/api/v1/query_range", handle: queryRangeHandler },
  { methods: ["GET", "POST"], path: "/api/v1/series", handle: seriesHandler },
  { methods: ["GET", "POST"], path: "/api/v1/labels", handle: labelsHandler },
  {
    methods: ["GET"],
    path: "/api/v1/label/:name/values",
    handle: (p, c, path) => labelValuesHandler(path.name ?? "", p, c),
  },
  { methods: ["GET"], path: "/api/v1/metadata", handle: metadataHandler },
  { methods: ["GET"], path: "/api/v1/status/buildinfo", handle: buildInfoHandler },
];

/** Finds the route for `pathname`; returns it with its captures, or `undefined`. */
export function matchPromRoute(
  pathname: string,
): { route: PromApiRoute; pathParams: Record<string, string> } | undefined {
  const parts = pathname.split("/");
  for (const route of PROM_API_ROUTES) {
    const want = route.path.split("/");
    if (want.length !== parts.length) continue;
    const pathParams: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      const w = want[i]!;
      if (w.startsWith(":")) {
        try {
          pathParams[w.slice(1)] = decodeURIComponent(parts[i]!);
        } catch {
          ok = false;
        }
      } else ok = w === parts[i];
    }
    if (ok) return { route, pathParams };
  }
  return undefined;
}

/**
 * Builds the parameters of a request: its query string, plus the form body of a POST with
 * `Content-Type: application/x-www-form-urlencoded` (at most `PROM_API_FORM_BODY_BYTES_MAX`).
 * Returns an error answer for an oversized or unreadable body.
 */
export async function promApiParams(req: Request): Promise<FormParams | PromApiResponse> {
  const url = new URL(req.url);
  if (req.method !== "POST" || !req.body) return new FormParams(url.searchParams);
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return new FormParams(url.searchParams);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > PROM_API_FORM_BODY_BYTES_MAX) {
    return apiError(
      "bad_data",
      `request body too large: limit ${PROM_API_FORM_BODY_BYTES_MAX} bytes`,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.length;
    if (size > PROM_API_FORM_BODY_BYTES_MAX) {
      return apiError(
        "bad_data",
        `request body too large: limit ${PROM_API_FORM_BODY_BYTES_MAX} bytes`,
      );
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return apiError("bad_data", "error parsing form values: body is not UTF-8");
  }
  return new FormParams(url.searchParams, new URLSearchParams(text));
}

/** Serves one request from the table: `undefined` when no route matches `pathname`. */
export async function handlePromApi(
  req: Request,
  ctx: PromApiContext,
): Promise<PromApiResponse | undefined> {
  const hit = matchPromRoute(new URL(req.url).pathname);
  if (!hit) return undefined;
  if (!hit.route.methods.includes(req.method)) {
    return {
      status: 405,
      json: `{"status":"error","errorType":"bad_data","error":"method not allowed"}`,
    };
  }
  const params = await promApiParams(req);
  if (!(params instanceof FormParams)) return params;
  try {
    return hit.route.handle(params, ctx, hit.pathParams);
  } catch (err) {
    if (err instanceof ParamError) return apiError("bad_data", err.message);
    return apiError("internal", (err as Error).message ?? String(err));
  }
}
