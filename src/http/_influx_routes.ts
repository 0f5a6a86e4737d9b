/**
 * InfluxDB's write endpoints as Telegraf's `outputs.influxdb` (v1) and `outputs.influxdb_v2`
 * use them (ARCHITECTURE.md § "Influx endpoints"):
 *
 * ```
 * POST /write?db=&rp=&precision=&u=&p=          v1 write      204 | 400 | 401 | 413
 * POST /api/v2/write?org=&bucket=&precision=    v2 write      204 | 400 | 401 | 413
 * GET|HEAD /ping                                 204 + X-Influxdb-Version (no token needed)
 * POST /query  q=CREATE DATABASE "…"             200 {"results":[{"statement_id":0}]}
 * ```
 *
 * Partial writes: the good lines of a body are stored and a 400 names the first bad line (as
 * InfluxDB 3 does), because Telegraf drops a batch answered 4xx instead of resending it, so an
 * all-or-nothing answer would lose every good line of that batch. `db`, `rp`, `org` and
 * `bucket` are accepted and ignored: every series lands in the one store.
 *
 * @module
 */

import { gunzipSync } from "node:zlib";
import { QueryParams } from "./_url.ts";
import { readBody } from "./_input.ts";
import { emptyResponse, HttpError, jsonResponse } from "./_response.ts";
import type { Handler, RequestContext, Route } from "./_routes.ts";
import { type InfluxPrecision, parseInflux, parsePrecision } from "../ingest/influx.ts";
import { ingestSamples } from "../ingest/store_writer.ts";
import { ingestCounters } from "../ingest/counters.ts";
import { TsError } from "../timeseries/write.ts";
import {
  INFLUX_BODY_BYTES_MAX,
  INFLUX_GZIP_BODY_BYTES_MAX,
  INFLUX_QUERY_BODY_BYTES_MAX,
} from "../limits.ts";

/** The InfluxDB version CityHall's write API answers as (`X-Influxdb-Version`). */
export const INFLUX_COMPAT_VERSION = "1.8.10";

const utf8 = new TextDecoder("utf-8", { fatal: true });

type Api = "v1" | "v2";

/** An error in the shape of the API version: v1 `{"error"}`, v2 `{"code","message"}`. */
function influxError(
  api: Api,
  status: number,
  message: string,
  extra: Record<string, unknown> = {},
): Response {
  const code = status === 413 ? "request too large" : status === 401 ? "unauthorized" : "invalid";
  const body = api === "v1" ? { error: message, ...extra } : { code, message, ...extra };
  return jsonResponse(status, body, { "x-influxdb-version": INFLUX_COMPAT_VERSION });
}

/** The body, gunzipped when `Content-Encoding: gzip`, bounded before and after decoding. */
async function influxBody(ctx: RequestContext, api: Api): Promise<Uint8Array | Response> {
  const encoding = (ctx.req.headers.get("content-encoding") ?? "").trim().toLowerCase();
  const gzip = encoding === "gzip";
  if (!gzip && encoding !== "" && encoding !== "identity") {
    await ctx.req.body?.cancel();
    return influxError(api, 415, `Unsupported Content-Encoding: ${encoding} (use gzip or none)`);
  }
  const limit = Math.min(
    gzip ? INFLUX_GZIP_BODY_BYTES_MAX : INFLUX_BODY_BYTES_MAX,
    ctx.bodySizeBytesMax,
  );
  let raw: Uint8Array;
  try {
    raw = await readBody(ctx.req, limit, "the largest Influx write body");
  } catch (err) {
    if (err instanceof HttpError && err.status === 413) return influxError(api, 413, err.message);
    throw err;
  }
  if (!gzip) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: INFLUX_BODY_BYTES_MAX });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      return influxError(
        api,
        413,
        `Request body too large: more than ${INFLUX_BODY_BYTES_MAX} bytes after gzip decoding`,
      );
    }
    return influxError(api, 400, `Cannot decode gzip body: ${(err as Error).message}`);
  }
}

async function write(ctx: RequestContext, api: Api): Promise<Response> {
  const q = ctx.query;
  if (api === "v1" && !q.string("db")) {
    await ctx.req.body?.cancel();
    return influxError(api, 400, "database is required");
  }
  if (api === "v2" && !q.string("bucket")) {
    await ctx.req.body?.cancel();
    return influxError(api, 400, "bucket is required");
  }
  const precisionText = q.string("precision") ?? "";
  const precision: InfluxPrecision | undefined = parsePrecision(precisionText);
  if (precision === undefined || (api === "v2" && precisionText.length === 1)) {
    await ctx.req.body?.cancel();
    return influxError(
      api,
      400,
      `Invalid precision: ${precisionText} (use ${
        api === "v1" ? "n, u, ms, s, m or h" : "ns, us, ms or s"
      })`,
    );
  }
  const body = await influxBody(ctx, api);
  if (body instanceof Response) return body;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return influxError(api, 400, "Invalid body: not valid UTF-8");
  }
  const batch = parseInflux(text, precision, Date.now());
  ingestCounters.influxStringFieldsSkipped += batch.stringFieldsSkipped;
  ingestCounters.influxBadLines += batch.errors.length;
  const result = writeOrMap(() =>
    ingestSamples(ctx.timeseries(), {
      samples: batch.samples,
      seriesOf: (i) => batch.series[i]!,
      ids: { of: batch.seriesIds, targets: batch.distinct },
      timestamps: batch.timestamps,
      values: batch.values,
    })
  );
  await result.durable;
  ingestCounters.influxSamples += result.written;
  ingestCounters.influxRefusedSamples += result.refused;
  const first = batch.errors[0];
  if (first !== undefined) {
    const kept = batch.errors.length === 1 ? "" : ` (and ${batch.errors.length - 1} more)`;
    return influxError(
      api,
      400,
      `partial write: unable to parse line ${first.line}: ${first.message}${kept}; the other lines were stored`,
      { line: first.line },
    );
  }
  if (result.refused > 0) {
    return influxError(
      api,
      400,
      `partial write: ${result.refused} of ${batch.samples} samples refused; first: ${result.firstRefusal}`,
    );
  }
  return emptyResponse(204);
}

/** Runs a store write, mapping a read-only replica to 403 (4xx: not worth retrying here). */
export function writeOrMap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TsError && err.reply.startsWith("READONLY")) {
      throw new HttpError(403, "Cannot write: this server is a read-only replica");
    }
    if (err instanceof TsError) throw new HttpError(503, err.reply.replace(/^ERR /, ""));
    throw err;
  }
}

function ping(): Response {
  return new Response(null, {
    status: 204,
    headers: { "x-influxdb-version": INFLUX_COMPAT_VERSION, "x-influxdb-build": "OSS" },
  });
}

/** `POST /query`: Telegraf's v1 output sends `CREATE DATABASE "…"` before writing. */
async function query(ctx: RequestContext): Promise<Response> {
  let q = ctx.query.string("q") ?? "";
  const type = (ctx.req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const body = await readBody(
    ctx.req,
    Math.min(INFLUX_QUERY_BODY_BYTES_MAX, ctx.bodySizeBytesMax),
    "the largest Influx query body",
  );
  if (q === "" && type === "application/x-www-form-urlencoded" && body.length > 0) {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      return influxError("v1", 400, "Invalid body: not valid UTF-8");
    }
    q = new URLSearchParams(text).get("q") ?? "";
  }
  if (q.trim() === "") return influxError("v1", 400, 'missing required parameter "q"');
  const statements = q.split(";").map((s) => s.trim()).filter((s) => s !== "");
  if (statements.every((s) => /^CREATE\s+DATABASE\s/i.test(s))) {
    return jsonResponse(200, {
      results: statements.map((_, i) => ({ statement_id: i })),
    }, { "x-influxdb-version": INFLUX_COMPAT_VERSION });
  }
  return influxError(
    "v1",
    400,
    "CityHall answers only CREATE DATABASE on /query: read with PromQL on /api/v1/query",
  );
}

const v1Write: Handler = (ctx) => write(ctx, "v1");
const v2Write: Handler = (ctx) => write(ctx, "v2");

/** The Influx routes by path. */
export const INFLUX_ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ["/write", { name: "influx_write", seed: false, open: false, methods: { POST: v1Write } }],
  ["/api/v2/write", {
    name: "influx_v2_write",
    seed: false,
    open: false,
    methods: { POST: v2Write },
  }],
  ["/ping", { name: "influx_ping", seed: false, open: true, methods: { GET: ping, HEAD: ping } }],
  ["/query", { name: "influx_query", seed: false, open: false, methods: { POST: query } }],
]);

/**
 * The `Authorization` value to check for a request: Telegraf and InfluxDB clients send the
 * token as `Token …` (v2), as the password of basic auth, or as v1's `p=` parameter (on the
 * Influx paths only: a token in a URL ends up in logs, so no other route takes it). Each is
 * rewritten as `Bearer …` for the server's one token check.
 */
export function ingestAuthorization(
  authorization: string | null,
  path: string,
  query: string,
): string | null {
  if (authorization !== null) {
    const token = /^Token +(.+)$/is.exec(authorization);
    if (token) return `Bearer ${token[1]}`;
    const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(authorization);
    if (basic) {
      let decoded: string;
      try {
        decoded = utf8.decode(Uint8Array.from(atob(basic[1]!), (c) => c.charCodeAt(0)));
      } catch {
        return authorization;
      }
      const colon = decoded.indexOf(":");
      return colon < 0 ? authorization : `Bearer ${decoded.slice(colon + 1)}`;
    }
    return authorization;
  }
  if (path !== "/write" && path !== "/query") return null;
  let p: string | undefined;
  try {
    p = new QueryParams(query).string("p");
  } catch {
    return null; // a malformed query string: unauthenticated, so 401 before the 400
  }
  return p !== undefined && p !== "" ? `Bearer ${p}` : null;
}
