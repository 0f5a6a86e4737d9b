/**
 * The Prometheus routes of the HTTP API (ARCHITECTURE.md § "Prometheus query API" and
 * § "Prometheus remote write"): the query API over the time-series store (`StoreSource`) and
 * the remote-write receiver (`POST /api/v1/write`). They sit behind the server's token
 * authentication like every other route; `_ingest_auth.ts` adds the credential forms Prometheus
 * and Telegraf send (basic auth with the token as password, `Authorization: Token …`).
 *
 * @module
 */

import { gzipSync } from "node:zlib";
import type { IncomingRequest } from "./_h1_body.ts";
import { toFetchRequest } from "./_h1_body.ts";
import { readBody } from "./_input.ts";
import { emptyResponse, HttpError, textResponse } from "./_response.ts";
import type { Handler, Route, RouteMatch } from "./_routes.ts";
import { handlePromApi, matchPromRoute, PROM_API_CONTENT_TYPE } from "../promql/api.ts";
import { StoreSource } from "../promql/store_source.ts";
import type { TimeSeriesStore } from "../timeseries/store.ts";
import { decodeRemoteWrite, RemoteWriteError } from "../ingest/remote_write.ts";
import { ingestSamples, type IngestTarget } from "../ingest/store_writer.ts";
import { INFLUX_ROUTES, writeOrMap } from "./_influx_routes.ts";
import { ingestCounters } from "../ingest/counters.ts";
import { PROM_API_GZIP_BYTES_MIN, REMOTE_WRITE_BODY_BYTES_MAX } from "../limits.ts";

const EMPTY = new Uint8Array(0);
const sources = new WeakMap<TimeSeriesStore, StoreSource>();

/** The query API's source over `store` (one per store: it caches series labels). */
export function storeSource(store: TimeSeriesStore): StoreSource {
  let s = sources.get(store);
  if (s === undefined) sources.set(store, s = new StoreSource(store));
  return s;
}

/** True when the client takes gzip (`Accept-Encoding: gzip`, not `gzip;q=0`). */
export function acceptsGzip(req: IncomingRequest): boolean {
  const accept = req.headers.get("accept-encoding");
  if (accept === null) return false;
  for (const part of accept.split(",")) {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding !== "gzip" && coding !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/** A JSON answer, gzip-compressed when the client accepts it and it is worth it. */
function promResponse(req: IncomingRequest, status: number, json: string): Response {
  const res = textResponse(status, json, PROM_API_CONTENT_TYPE);
  if (json.length < PROM_API_GZIP_BYTES_MIN || !acceptsGzip(req)) return res;
  const body = new Uint8Array(gzipSync(new TextEncoder().encode(json)));
  return new Response(body, {
    status,
    headers: {
      "content-type": PROM_API_CONTENT_TYPE,
      "content-encoding": "gzip",
      vary: "accept-encoding",
    },
  });
}

const queryApi: Handler = async (ctx) => {
  const store = ctx.timeseries();
  const answer = await handlePromApi(toFetchRequest(ctx.req, "http://localhost"), {
    source: storeSource(store),
  });
  if (answer === undefined) throw new HttpError(404, `Not found: ${ctx.req.method} ${ctx.req.url}`);
  return promResponse(ctx.req, answer.status, answer.json);
};

/** Remote-write targets of one request: one per distinct series. */
function targetsOf(series: { key: string; name: string; labels: [string, string][] }[]) {
  return series.map((s): IngestTarget => ({ key: s.key, name: s.name, labels: s.labels }));
}

/**
 * `POST /api/v1/write`: Remote-Write 1.0. 204 when every sample was stored; 400 for a body that
 * cannot be decoded or samples the store refuses (the others are kept: retrying cannot help);
 * 5xx only when the engine cannot write now (closed, disk full), where a retry can succeed.
 */
const remoteWrite: Handler = async (ctx) => {
  const type = (ctx.req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const encoding = (ctx.req.headers.get("content-encoding") ?? "").trim().toLowerCase();
  if (type !== "application/x-protobuf" || (encoding !== "" && encoding !== "snappy")) {
    await ctx.req.body?.cancel();
    throw new HttpError(
      415,
      "Unsupported remote write body: send Content-Type: application/x-protobuf and Content-Encoding: snappy",
    );
  }
  const limit = Math.min(REMOTE_WRITE_BODY_BYTES_MAX, ctx.bodySizeBytesMax);
  const body = await readBody(ctx.req, limit, "the largest remote write body");
  let decoded;
  try {
    decoded = decodeRemoteWrite(body.length === 0 ? EMPTY : body);
  } catch (err) {
    if (err instanceof RemoteWriteError) {
      ingestCounters.remoteWriteRejectedRequests++;
      throw new HttpError(400, err.message);
    }
    throw err;
  }
  const targets = targetsOf(decoded.series);
  const owner = new Int32Array(decoded.samples);
  decoded.series.forEach((s, i) => owner.fill(i, s.offset, s.offset + s.count));
  const result = writeOrMap(() =>
    ingestSamples(ctx.timeseries(), {
      samples: decoded.samples,
      seriesOf: (i) => targets[owner[i]!]!,
      ids: { of: owner, targets },
      timestamps: decoded.timestamps,
      values: decoded.values,
    })
  );
  await result.durable;
  ingestCounters.remoteWriteSamples += result.written;
  ingestCounters.remoteWriteRefusedSamples += result.refused;
  if (result.refused > 0) {
    throw new HttpError(
      400,
      `${result.refused} of ${decoded.samples} samples refused (the others were stored); first: ${result.firstRefusal}`,
    );
  }
  return emptyResponse(204);
};

const promApiRoute: Route = {
  name: "prom_api",
  seed: false,
  open: false,
  methods: { GET: queryApi, POST: queryApi },
};
const promApiGetRoute: Route = {
  name: "prom_api",
  seed: false,
  open: false,
  methods: { GET: queryApi },
};
const remoteWriteRoute: Route = {
  name: "prom_remote_write",
  seed: false,
  open: false,
  methods: { POST: remoteWrite },
};

/**
 * The Prometheus and Influx routes for a raw path, or undefined. The query API keeps its own
 * table (`PROM_API_ROUTES`); methods it does not serve get the server's 405.
 */
export function matchIngestRoute(path: string): RouteMatch | undefined {
  if (path === "/api/v1/write") return { route: remoteWriteRoute, key: EMPTY };
  const influx = INFLUX_ROUTES.get(path);
  if (influx !== undefined) return { route: influx, key: EMPTY };
  if (!path.startsWith("/api/v1/")) return undefined;
  const hit = matchPromRoute(path);
  if (hit === undefined) return undefined;
  return {
    route: hit.route.methods.includes("POST") ? promApiRoute : promApiGetRoute,
    key: EMPTY,
  };
}

/** True for the ingest paths served without a token (`/ping`, as InfluxDB). */
export function isOpenIngestPath(path: string): boolean {
  return INFLUX_ROUTES.get(path)?.open === true;
}
