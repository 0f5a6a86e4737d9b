/**
 * The route table and the handlers behind it. `server.ts` does authentication, error mapping
 * and logging around them. ARCHITECTURE.md § "HTTP API" documents every route.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import { compareBytes, fromBytes, prefixEnd } from "../util/bytes.ts";
import type { IncomingRequest } from "./_h1_body.ts";
import {
  BATCH_JSON_LIMITS,
  BYTES_STRINGS_FROM,
  bytesParam,
  checkFields,
  checkPathKey,
  decodeCursor,
  decodeField,
  encodeCursor,
  encodeField,
  type Encoding,
  isObject,
  parseBatch,
  parseBool,
  parseEncoding,
  parseLimit,
  parseTtlMs,
  readBody,
  readJson,
} from "./_input.ts";
import {
  bytesResponse,
  emptyResponse,
  HttpError,
  jsonResponse,
  textResponse,
} from "./_response.ts";
import { percentDecode, type QueryParams } from "./_url.ts";
import {
  HTTP_BATCH_BODY_BYTES_MAX,
  HTTP_JSON_PUT_BODY_BYTES_MAX,
  HTTP_JSON_STRING_BYTES_MAX,
  HTTP_LIST_LIMIT_MAX,
  HTTP_LIST_RESPONSE_BYTES_MAX,
  HTTP_VALUE_BODY_BYTES_MAX,
} from "../limits.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import { healthResponse } from "./health.ts";
import { CONSOLE_ASSETS, consoleAssetResponse, replicationStatus } from "../console/mod.ts";
import { typeName, USER_KEYS_END } from "../keyspace/mod.ts";
import { isMemberType } from "../types/keyspace_ops.ts";
import { typedValueJson } from "../types/json.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import {
  deleteSamples,
  getSamples,
  listSeries,
  postSamples,
  type SeriesContext,
  seriesInfo,
} from "./_series_routes.ts";

import { infoSectionOf } from "../server/info_sections.ts";

import { isOpenIngestPath, matchIngestRoute } from "./_prom_routes.ts";
import { KIND_META, KIND_PUT } from "../util/entry.ts";

/** What a handler gets. */
export interface RequestContext {
  /** The database served. */
  db: Database;
  /** The request. */
  req: IncomingRequest;
  /** Parsed query string. */
  query: QueryParams;
  /** The percent-decoded key of `/v1/keys/{key}` and `/keys/{key}`; empty elsewhere. */
  key: Uint8Array;
  /** Caps every body limit (the `bodySizeBytesMax` option); `Infinity` when not set. */
  bodySizeBytesMax: number;
  /** The `/v1/stats` object. */
  stats(): Record<string, unknown>;
  /** The `/metrics` text. */
  metrics(): string;
  /** Problems that make `/healthz` answer 503 (empty = healthy). */
  health(): string[];
  /** The time-series layer (opened on first use when the server was not given one). */
  timeseries(): TimeSeriesStore;
}

/** Handles one request. */
export type Handler = (ctx: RequestContext) => Response | Promise<Response>;

/** A route: a name for logs and metrics, and a handler per method. */
export interface Route {
  /** Stable name used as the `route` label of `cityhall_http_requests_total`. */
  name: string;
  /** Handlers by HTTP method. */
  methods: Record<string, Handler>;
  /** True for the lsm-kv-store seed's routes: their bodies use the seed's envelope. */
  seed: boolean;
  /** True when the route is served without authentication. */
  open: boolean;
}

/** A matched route and the key taken from its path. */
export interface RouteMatch {
  /** The route. */
  route: Route;
  /** The key of a `{key}` route, or empty. */
  key: Uint8Array;
}

const EMPTY = new Uint8Array(0);

function limitFor(ctx: RequestContext, limitBytes: number): number {
  return Math.min(limitBytes, ctx.bodySizeBytesMax);
}

function limitName(ctx: RequestContext, limitBytes: number, name: string): string {
  return ctx.bodySizeBytesMax < limitBytes ? "the server's bodySizeBytesMax option" : name;
}

// ------------------------------------------------------------------------- /v1/keys/{key}

function getKey(ctx: RequestContext): Response {
  checkPathKey(ctx.key);
  const entry = ctx.db.getEntry(ctx.key);
  if (entry === undefined) throw new HttpError(404, "Key not found");
  if (entry.kind === KIND_META && isMemberType(entry.value)) {
    // Hashes, sets, sorted sets, lists: JSON (§ "Member types").
    const encoding = parseEncoding(ctx.query.string("encoding"), "Invalid query parameter");
    return jsonResponse(200, typedValueJson(ctx.db, entry, (b) => encodeField(b, encoding)));
  }
  if (entry.kind !== KIND_PUT) throw wrongType(entry.kind, entry.value);
  const headers: Record<string, string> = {};
  if (entry.expireAtMs > 0) headers["x-cityhall-expire-at-ms"] = String(entry.expireAtMs);
  return bytesResponse(entry.value, headers);
}

async function putKey(ctx: RequestContext): Promise<Response> {
  checkPathKey(ctx.key);
  const ttlMs = parseTtlMs(ctx.query.string("ttl_ms"), "ttl_ms");
  const limit = limitFor(ctx, HTTP_VALUE_BODY_BYTES_MAX);
  const value = await readBody(
    ctx.req,
    limit,
    limitName(ctx, HTTP_VALUE_BODY_BYTES_MAX, "the largest value"),
  );
  if (ttlMs === undefined) await ctx.db.put(ctx.key, value);
  else await ctx.db.put(ctx.key, value, { expireAtMs: Date.now() + ttlMs });
  return emptyResponse(204);
}

/** 409 for a key of another type (a time series): its bytes are metadata, not a value. */
function wrongType(kind: number, value: Uint8Array): HttpError {
  const type = typeName(kind, value);
  return new HttpError(
    409,
    `Key holds another type: ${type}` + (type === "TSDB-TYPE" ? " (use /v1/series/{key})" : ""),
  );
}

/** Deletes the key; true when it existed. The read and the write happen in one tick. */
async function deleteExisting(db: Database, key: Uint8Array): Promise<boolean> {
  const existed = db.getEntry(key) !== undefined;
  await db.delete(key);
  return existed;
}

async function deleteKey(ctx: RequestContext): Promise<Response> {
  checkPathKey(ctx.key);
  const deleted = await deleteExisting(ctx.db, ctx.key);
  return jsonResponse(200, { deleted });
}

// ------------------------------------------------------------------------- /v1/keys

interface ListPage {
  items: { key: Uint8Array; value: Uint8Array; type?: string }[];
  /** True when more items follow the last one returned. */
  more: boolean;
}

function maxBytes(a: Uint8Array | undefined, b: Uint8Array | undefined) {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

function minBytes(a: Uint8Array | undefined, b: Uint8Array | undefined) {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}

/**
 * Collects up to `limit` live items of `[lower, upper)` (descending with `reverse`), stopping
 * early at `HTTP_LIST_RESPONSE_BYTES_MAX`. Asks the engine for one item more than it returns
 * to know whether another page exists.
 */
async function collect(
  db: Database,
  lower: Uint8Array | undefined,
  upper: Uint8Array | undefined,
  limit: number,
  reverse: boolean,
): Promise<ListPage> {
  const items: ListPage["items"] = [];
  if (lower !== undefined && upper !== undefined && compareBytes(lower, upper) >= 0) {
    return { items, more: false };
  }
  const range: { start?: Uint8Array; end?: Uint8Array } = {};
  if (lower !== undefined) range.start = lower;
  // Never past the internal range (ARCHITECTURE.md § "Keyspace").
  range.end = upper === undefined || compareBytes(upper, USER_KEYS_END) > 0 ? USER_KEYS_END : upper;
  let bytes = 0;
  for await (const [key, value] of db.scan(range, { limit: limit + 1, reverse })) {
    const size = key.length + value.length;
    if (
      items.length === limit || (items.length > 0 && bytes + size > HTTP_LIST_RESPONSE_BYTES_MAX)
    ) {
      return { items, more: true };
    }
    bytes += size;
    const entry = db.getEntry(key);
    if (entry !== undefined && entry.kind !== KIND_PUT) {
      items.push({ key, value, type: typeName(entry.kind, entry.value) });
    } else items.push({ key, value });
  }
  return { items, more: false };
}

async function listKeys(ctx: RequestContext): Promise<Response> {
  const q = ctx.query;
  const limit = parseLimit(q.string("limit"));
  const reverse = parseBool(q.string("reverse"), "reverse");
  const encoding = parseEncoding(q.string("encoding"), "Invalid query parameter");
  const prefix = bytesParam(q, "prefix");
  const cursorText = q.string("cursor");
  const cursor = cursorText === undefined || cursorText === ""
    ? undefined
    : decodeCursor(cursorText);
  let lower = maxBytes(prefix, bytesParam(q, "start"));
  let upper = minBytes(prefix === undefined ? undefined : prefixEnd(prefix), bytesParam(q, "end"));
  // An all-0xff prefix has no end: every key at or after it starts with it, so
  // `[prefix, ∞)` is still exact.
  if (cursor !== undefined) {
    if (reverse) upper = minBytes(upper, cursor);
    else {
      // The smallest key after `cursor` is `cursor` followed by one zero byte.
      const after = new Uint8Array(cursor.length + 1);
      after.set(cursor);
      lower = maxBytes(lower, after);
    }
  }
  const page = await collect(ctx.db, lower, upper, limit, reverse);
  const last = page.items[page.items.length - 1];
  return jsonResponse(200, {
    items: page.items.map((item) =>
      item.type === undefined
        ? { key: encodeField(item.key, encoding), value: encodeField(item.value, encoding) }
        : { key: encodeField(item.key, encoding), value: null, type: item.type }
    ),
    cursor: page.more && last !== undefined ? encodeCursor(last.key) : null,
  });
}

// ------------------------------------------------------------------------- /v1/batch

async function postBatch(ctx: RequestContext): Promise<Response> {
  const body = await readJson(
    ctx.req,
    limitFor(ctx, HTTP_BATCH_BODY_BYTES_MAX),
    limitName(ctx, HTTP_BATCH_BODY_BYTES_MAX, "the largest batch"),
    BATCH_JSON_LIMITS,
  );
  const ops: WriteOp[] = await parseBatch(body, Date.now());
  await ctx.db.write(ops);
  return jsonResponse(200, { ok: true, count: ops.length });
}

// ------------------------------------------------------------------------- seed aliases

/** The lsm-kv-store seed's response envelope. */
function seedResponse(status: number, message: string, data?: unknown): Response {
  return jsonResponse(
    status,
    data === undefined ? { success: true, message } : { success: true, message, data },
  );
}

function seedGetKey(ctx: RequestContext): Response | Promise<Response> {
  if (fromBytes(ctx.key) === "search") return seedSearch(ctx);
  checkPathKey(ctx.key);
  const entry = ctx.db.getEntry(ctx.key);
  const key = fromBytes(ctx.key);
  if (entry === undefined) throw new HttpError(404, `Key '${key}' not found`);
  if (entry.kind !== KIND_PUT) throw wrongType(entry.kind, entry.value);
  return seedResponse(200, "Key found", { key, value: fromBytes(entry.value) });
}

/** `{"key","value","ttl_ms","encoding"}`: one level, a handful of values. */
const SEED_PUT_JSON_LIMITS = {
  depthMax: 1,
  valuesMax: 16,
  bytesStringsFrom: BYTES_STRINGS_FROM,
  bytesStringBytesMax: HTTP_JSON_STRING_BYTES_MAX,
};

async function seedPostKey(ctx: RequestContext): Promise<Response> {
  const body = await readJson(
    ctx.req,
    limitFor(ctx, HTTP_JSON_PUT_BODY_BYTES_MAX),
    limitName(ctx, HTTP_JSON_PUT_BODY_BYTES_MAX, "the largest JSON body"),
    SEED_PUT_JSON_LIMITS,
  );
  const where = "Invalid body";
  if (!isObject(body)) throw new HttpError(400, `${where}: must be a JSON object {"key","value"}`);
  checkFields(body, ["key", "value", "ttl_ms", "encoding"], where);
  const encoding: Encoding = parseEncoding(body.encoding, where);
  const key = decodeField(body.key, encoding, "key");
  checkPathKey(key);
  const value = decodeField(body.value, encoding, "value");
  const ttlMs = parseTtlMs(body.ttl_ms, "ttl_ms");
  if (ttlMs === undefined) await ctx.db.put(key, value);
  else await ctx.db.put(key, value, { expireAtMs: Date.now() + ttlMs });
  const name = fromBytes(key);
  return seedResponse(200, `Key '${name}' set successfully`, { key: name });
}

async function seedDeleteKey(ctx: RequestContext): Promise<Response> {
  checkPathKey(ctx.key);
  const deleted = await deleteExisting(ctx.db, ctx.key);
  return seedResponse(200, `Key '${fromBytes(ctx.key)}' deleted successfully`, { deleted });
}

async function seedSearch(ctx: RequestContext): Promise<Response> {
  const q = ctx.query.bytes("q");
  if (q === undefined) throw new HttpError(400, "Missing query parameter: q");
  const prefix = parseBool(ctx.query.string("prefix"), "prefix");
  const limit = parseLimit(ctx.query.string("limit"), HTTP_LIST_LIMIT_MAX);
  let page: ListPage;
  if (prefix) {
    page = await collect(
      ctx.db,
      q.length === 0 ? undefined : q,
      prefixEnd(q),
      limit,
      false,
    );
  } else {
    checkPathKey(q);
    const entry = ctx.db.getEntry(q);
    page = { items: entry === undefined ? [] : [{ key: q, value: entry.value }], more: false };
  }
  const records = page.items.map((i) => ({
    key: fromBytes(i.key),
    value: i.type === undefined ? fromBytes(i.value) : null,
  }));
  return seedResponse(200, `${records.length} keys found matching '${fromBytes(q)}'`, {
    records,
    truncated: page.more,
  });
}

function seedStats(ctx: RequestContext): Response {
  return seedResponse(200, "Stats retrieved", { stats: ctx.stats() });
}

// ------------------------------------------------------------------------- table

const routes = {
  healthz: {
    name: "healthz",
    seed: false,
    open: true,
    methods: {
      GET: (ctx) => healthResponse(ctx.health(), false),
      HEAD: (ctx) => healthResponse(ctx.health(), true),
    },
  },
  metrics: {
    name: "metrics",
    seed: false,
    open: false,
    methods: { GET: (ctx) => textResponse(200, ctx.metrics(), PROMETHEUS_CONTENT_TYPE) },
  },
  stats: {
    name: "v1_stats",
    seed: false,
    open: false,
    methods: { GET: (ctx) => jsonResponse(200, ctx.stats()) },
  },
  list: { name: "v1_list", seed: false, open: false, methods: { GET: listKeys } },
  key: {
    name: "v1_key",
    seed: false,
    open: false,
    methods: { GET: getKey, PUT: putKey, DELETE: deleteKey },
  },
  batch: { name: "v1_batch", seed: false, open: false, methods: { POST: postBatch } },
  seedKeys: { name: "seed_keys", seed: true, open: false, methods: { POST: seedPostKey } },
  seedKey: {
    name: "seed_key",
    seed: true,
    open: false,
    methods: { GET: seedGetKey, DELETE: seedDeleteKey },
  },
  seedStats: { name: "seed_stats", seed: true, open: false, methods: { GET: seedStats } },
  seriesList: {
    name: "v1_series_list",
    seed: false,
    open: false,
    methods: { GET: series(listSeries) },
  },
  series: { name: "v1_series", seed: false, open: false, methods: { GET: series(seriesInfo) } },
  samples: {
    name: "v1_series_samples",
    seed: false,
    open: false,
    methods: { GET: series(getSamples), POST: series(postSamples), DELETE: series(deleteSamples) },
  },
} satisfies Record<string, Route>;

/** Adapts a series handler (ARCHITECTURE.md § "Time-series HTTP routes") to a route. */
function series(handler: (ctx: SeriesContext) => Response | Promise<Response>): Handler {
  return (ctx) => {
    if (ctx.key.length > 0) checkPathKey(ctx.key);
    return handler({
      timeseries: ctx.timeseries(),
      req: ctx.req,
      query: ctx.query,
      key: ctx.key,
      bodySizeBytesMax: ctx.bodySizeBytesMax,
    });
  };
}

const fixed = new Map<string, Route>([
  ["/healthz", routes.healthz],
  ["/metrics", routes.metrics],
  ["/v1/stats", routes.stats],
  ["/v1/keys", routes.list],
  ["/v1/batch", routes.batch],
  ["/keys", routes.seedKeys],
  ["/stats_all", routes.seedStats],
  ["/stats/all", routes.seedStats],
  ["/v1/series", routes.seriesList],
]);

// The web console (ARCHITECTURE.md § "Web console"): its files are open, since the login page
// loads before there is a token and they hold no data; what they show comes from the API.
for (const asset of CONSOLE_ASSETS.values()) {
  fixed.set(asset.path, {
    name: "console",
    seed: false,
    open: true,
    methods: { GET: (ctx) => consoleAssetResponse(asset, ctx.req) },
  });
}
fixed.set("/v1/replication", {
  name: "v1_replication",
  seed: false,
  open: false,
  methods: {
    GET: (ctx) => {
      // A fleet hub's sites or an edge's uplink, from the INFO sections its role attached.
      const sites = infoSectionOf(ctx.db, "sites")?.();
      const uplink = infoSectionOf(ctx.db, "uplink")?.();
      return jsonResponse(
        200,
        replicationStatus(ctx.db, {
          ...(sites !== undefined ? { sites } : {}),
          ...(uplink !== undefined ? { uplink } : {}),
        }),
      );
    },
  },
});
const SERIES_PREFIX = "/v1/series/";
const SAMPLES_SUFFIX = "/samples";

const KEY_ROUTES: readonly [string, Route][] = [
  ["/v1/keys/", routes.key],
  ["/keys/", routes.seedKey],
];

/** True for paths served without authentication (`/healthz`). */
export function isOpenPath(path: string): boolean {
  return fixed.get(path)?.open === true || isOpenIngestPath(path);
}

/** Finds the route of a raw (still percent-encoded) path; `undefined` is a 404. */
export function matchRoute(path: string): RouteMatch | undefined {
  const route = fixed.get(path);
  if (route !== undefined) return { route, key: EMPTY };
  const ingest = matchIngestRoute(path); // Prometheus and Influx (`_prom_routes.ts`)
  if (ingest !== undefined) return ingest;
  if (path.startsWith(SERIES_PREFIX)) {
    // `{key}/samples` (raw path; a key ending in "/samples" is written "%2Fsamples").
    const rest = path.slice(SERIES_PREFIX.length);
    if (rest.endsWith(SAMPLES_SUFFIX) && rest.length > SAMPLES_SUFFIX.length) {
      const key = percentDecode(rest.slice(0, -SAMPLES_SUFFIX.length), "key");
      return { route: routes.samples, key };
    }
    return { route: routes.series, key: percentDecode(rest, "key") };
  }
  for (const [prefix, keyRoute] of KEY_ROUTES) {
    if (path.startsWith(prefix)) {
      return { route: keyRoute, key: percentDecode(path.slice(prefix.length), "key") };
    }
  }
  return undefined;
}
