/**
 * CityHall's HTTP API: key/value routes, listing with cursors, atomic batches, stats,
 * Prometheus metrics and a health check, plus the lsm-kv-store seed's routes as aliases, served
 * by CityHall's own HTTP/1.1 front (`_h1_server.ts`). ARCHITECTURE.md § "HTTP API" documents
 * every route, status code, limit and deadline.
 *
 * Invariants:
 * - Every route except `/healthz` requires the bearer token when one is configured; the
 *   check hashes both sides with SHA-256 and compares digests in constant time. Authentication
 *   happens before a body byte is read, so without the token nobody can take body budget.
 * - A write is answered only after the engine's promise resolved (durable under the sync
 *   mode); input is validated in full before the engine is called, so an error writes nothing.
 * - Bodies are bounded before and while they are read (413), together by the global body budget
 *   (503 + Retry-After), and in time (408); list pages by item count and bytes.
 *
 * @module
 */

import { TimeSeriesStore } from "../timeseries/mod.ts";
import type { Database } from "../engine/mod.ts";
import {
  ClosedError,
  DiskFullError,
  InvalidArgumentError,
  IoError,
  ReadOnlyError,
} from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { createAuthenticator } from "./_auth.ts";
import { BodyBudget } from "./_budget.ts";
import type { IncomingRequest } from "./_h1_body.ts";
import type { AccessEntry } from "./_h1_conn.ts";
import { serveH1 } from "./_h1_server.ts";
import { HttpError, jsonResponse } from "./_response.ts";
import { isOpenPath, matchRoute, type RequestContext } from "./_routes.ts";
import { QueryParams, splitTarget } from "./_url.ts";
import {
  HTTP_BODY_BUDGET_BYTES_DEFAULT,
  HTTP_BODY_TIMEOUT_MS_DEFAULT,
  HTTP_CONNECTIONS_MAX_DEFAULT,
  HTTP_CONNECTIONS_MAX_LIMIT,
  HTTP_HEADER_TIMEOUT_MS_DEFAULT,
  HTTP_IDLE_TIMEOUT_MS_DEFAULT,
  HTTP_URL_LENGTH_MAX,
  HTTP_WRITE_TIMEOUT_MS_DEFAULT,
} from "../limits.ts";
import { type ExtraMetricFamily, HttpMetrics, renderMetrics, renderStats } from "./metrics.ts";
import {
  attachRegistry,
  detachRegistry,
  hasRegistryLoaders,
  loadAttachedRegistries,
} from "../metrics/mod.ts";
import { engineHealth, type HealthProvider } from "./health.ts";
import { checkWriteOrigin } from "./origin.ts";
import { ingestAuthorization } from "./_influx_routes.ts";

/** Options of `startHttpServer`. */
export interface HttpServerOptions {
  /** Address to bind, e.g. `127.0.0.1`. */
  hostname: string;
  /** Port to bind; 0 picks a free one (see `HttpServer.addr`). The CLI default is 7880. */
  port: number;
  /** Bearer token every route but `/healthz` requires; omitted = no authentication. */
  authToken?: string;
  /** Where request and error lines go. */
  logger: Logger;
  /**
   * Families a role adds to `/metrics` (a fleet hub's sites, an edge's uplink). The RESP
   * server's stats need no option: its registry is attached to the database.
   */
  families?: () => ExtraMetricFamily[];
  /** PEM certificate chain and private key (contents, not paths) to serve HTTPS. */
  tls?: { cert: string; key: string };
  /** Caps every request body limit below its default (tests, small machines). */
  bodySizeBytesMax?: number;
  /** What `/healthz` checks (503 when it reports problems); default: the engine's state. */
  health?: HealthProvider;
  /** Body bytes all requests together may hold (default `HTTP_BODY_BUDGET_BYTES_DEFAULT`). */
  bodyBudgetBytes?: number;
  /** Time from accept (or a request's first byte) to the end of its head; absolute. */
  headerTimeoutMs?: number;
  /** Time from the end of a head to the end of its body; absolute. */
  bodyTimeoutMs?: number;
  /** Time a keep-alive connection may wait for its next request. */
  idleTimeoutMs?: number;
  /** Base time to write one response to a client that does not read (plus 1 s per MiB). */
  writeTimeoutMs?: number;
  /** Most open connections; a new one past it gets 503 and is closed. */
  connectionsMax?: number;
  /** The time-series layer over `db` (series routes); one is opened on first use if absent. */
  timeseries?: TimeSeriesStore;
}

/** Checks one numeric option: an integer from `min` to `max`; returns it or its default. */
function intOption(
  options: HttpServerOptions,
  name: keyof HttpServerOptions,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `Invalid ${name}: ${options[name]} (must be an integer from ${min} to ${max})`,
    );
  }
  return value;
}

/** A running HTTP server. */
export interface HttpServer {
  /** The bound address (the real port when `port` was 0). */
  readonly addr: Deno.NetAddr;
  /** Base URL, e.g. `http://127.0.0.1:7880`. */
  readonly url: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting connections and waits for in-flight requests to finish. */
  shutdown(): Promise<void>;
}

const DAY_MS = 86_400_000;

/** Longest path put in a log line. */
const LOG_PATH_CHARS_MAX = 200;

function shorten(path: string): string {
  return path.length > LOG_PATH_CHARS_MAX ? path.slice(0, LOG_PATH_CHARS_MAX) + "…" : path;
}

function errorBody(seed: boolean, message: string): Record<string, unknown> {
  return seed ? { success: false, message, error: message } : { error: message };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof InvalidArgumentError) return new HttpError(400, err.message);
  // A replica serves reads only; writes go to the leader.
  if (err instanceof ReadOnlyError) return new HttpError(403, err.message);
  // 507 Insufficient Storage: writes resume by themselves once space is freed.
  if (err instanceof DiskFullError) return new HttpError(507, err.message);
  if (err instanceof ClosedError || err instanceof IoError) return new HttpError(503, err.message);
  const message = err instanceof Error ? err.message : String(err);
  return new HttpError(500, `Internal error: ${message}`);
}

/**
 * Starts the HTTP API for `db` on `options.hostname:options.port` and resolves once it
 * listens. Throws `InvalidArgumentError` for bad options and `Deno.errors.AddrInUse` when the
 * port is taken.
 */
export async function startHttpServer(
  db: Database,
  options: HttpServerOptions,
): Promise<HttpServer> {
  const { logger } = options;
  if (options.authToken !== undefined && options.authToken.length === 0) {
    throw new InvalidArgumentError("Invalid authToken: empty");
  }
  const bodySizeBytesMax = options.bodySizeBytesMax ?? Infinity;
  if (
    !(bodySizeBytesMax === Infinity || Number.isSafeInteger(bodySizeBytesMax)) ||
    bodySizeBytesMax < 0
  ) {
    throw new InvalidArgumentError(
      `Invalid bodySizeBytesMax: ${options.bodySizeBytesMax} (must be a non-negative integer)`,
    );
  }
  const budget = new BodyBudget(
    intOption(
      options,
      "bodyBudgetBytes",
      HTTP_BODY_BUDGET_BYTES_DEFAULT,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
  );
  const authenticate = await createAuthenticator(options.authToken);
  let timeseries = options.timeseries;
  const ownsTimeseries = options.timeseries === undefined;
  const http = new HttpMetrics();
  const health = options.health ?? engineHealth(db);
  const stats = (): Record<string, unknown> => renderStats(db, http);
  const metrics = (): string => renderMetrics(db, options.families);

  const handle = async (req: IncomingRequest): Promise<Response> => {
    let seed = false;
    try {
      if (req.url.length > HTTP_URL_LENGTH_MAX) {
        throw new HttpError(
          414,
          `URL too long: ${req.url.length} characters (limit ${HTTP_URL_LENGTH_MAX})`,
        );
      }
      const target = splitTarget(req.url);
      req.note.path = target.path;
      // Auth before routing: without the token, every path but /healthz looks the same.
      const authorization = ingestAuthorization(
        req.headers.get("authorization"),
        target.path,
        target.query,
      );
      if (!isOpenPath(target.path) && !(await authenticate(authorization))) {
        throw new HttpError(
          401,
          req.headers.has("authorization")
            ? "Unauthorized: invalid token"
            : "Unauthorized: missing Authorization: Bearer <token>",
          { "www-authenticate": 'Bearer realm="cityhall"' },
        );
      }
      checkWriteOrigin(req);
      const match = matchRoute(target.path);
      if (match === undefined) {
        throw new HttpError(404, `Not found: ${req.method} ${shorten(target.path)}`);
      }
      req.note.route = match.route.name;
      seed = match.route.seed;
      const handler = match.route.methods[req.method];
      if (handler === undefined) {
        const allow = Object.keys(match.route.methods).join(", ");
        throw new HttpError(405, `Method not allowed: ${req.method} (allowed: ${allow})`, {
          allow,
        });
      }
      const ctx: RequestContext = {
        db,
        req,
        query: new QueryParams(target.query),
        key: match.key,
        bodySizeBytesMax,
        stats,
        metrics,
        health,
        timeseries: () => timeseries ??= TimeSeriesStore.open(db, { logger }),
      };
      // Stats declared when first asked for (the RESP server's): built before any view needs them.
      if (hasRegistryLoaders(db)) await loadAttachedRegistries(db);
      return await handler(ctx);
    } catch (err) {
      const e = toHttpError(err);
      if (req.body !== null && !req.bodyUsed) await req.body.cancel();
      req.note.error = e.message;
      return jsonResponse(e.status, errorBody(seed, e.message), e.headers);
    }
  };

  // The access log: one line per request, at debug (warn for server errors).
  const onDone = (entry: AccessEntry): void => {
    http.record(entry.route, entry.status, entry.ms / 1000);
    const fields = {
      method: entry.method,
      path: entry.path !== undefined
        ? shorten(entry.path)
        : entry.target === undefined
        ? undefined
        : shorten(splitTarget(entry.target).path),
      status: entry.status,
      bytes: entry.bytes,
      bytes_in: entry.bytesIn > 0 ? entry.bytesIn : undefined,
      ms: Math.round(entry.ms * 1000) / 1000,
      remote: entry.remote,
      error: entry.error,
    };
    // Load shedding (503 "Server busy") is expected under attack, and 501/505 answer what the
    // client sent: none is worth a warning each.
    const clientCaused = entry.status === 501 || entry.status === 505 ||
      (entry.status === 503 && entry.error?.startsWith("Server busy") === true);
    if (entry.status >= 500 && !clientCaused) logger("warn", "http request failed", fields);
    else logger("debug", "http request", fields);
  };

  const server = serveH1({
    hostname: options.hostname,
    port: options.port,
    tls: options.tls,
    headerTimeoutMs: intOption(
      options,
      "headerTimeoutMs",
      HTTP_HEADER_TIMEOUT_MS_DEFAULT,
      1,
      DAY_MS,
    ),
    bodyTimeoutMs: intOption(options, "bodyTimeoutMs", HTTP_BODY_TIMEOUT_MS_DEFAULT, 1, DAY_MS),
    idleTimeoutMs: intOption(options, "idleTimeoutMs", HTTP_IDLE_TIMEOUT_MS_DEFAULT, 1, DAY_MS),
    writeTimeoutMs: intOption(options, "writeTimeoutMs", HTTP_WRITE_TIMEOUT_MS_DEFAULT, 1, DAY_MS),
    connectionsMax: intOption(
      options,
      "connectionsMax",
      HTTP_CONNECTIONS_MAX_DEFAULT,
      1,
      HTTP_CONNECTIONS_MAX_LIMIT,
    ),
    budget,
    logger,
    handler: async (req) => {
      try {
        return await handle(req);
      } catch (err) {
        logger("error", "http handler crashed", { error: String(err) });
        return jsonResponse(500, { error: "Internal error" });
      }
    },
    onDone,
  });
  http.front = () => ({
    connections: server.connections(),
    connectionsRefused: server.refusedConnections(),
    bodyBudgetBytes: budget.inUse,
    bodyBudgetCapacityBytes: budget.capacity,
    bodyBudgetRefusals: budget.refusals,
    timeouts: server.timeouts(),
  });
  // Every view of `db` (INFO of a RESP server on it too) shows the HTTP front's stats, from
  // the moment it listens until it shuts down.
  attachRegistry(db, "http", http.registry);
  const addr = server.addr;
  const scheme = options.tls === undefined ? "http" : "https";
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `${scheme}://${host}:${addr.port}`;
  logger("info", "http server listening", { url, auth: options.authToken !== undefined });
  let stopping: Promise<void> | undefined;
  return {
    addr,
    url,
    finished: server.finished,
    shutdown(): Promise<void> {
      stopping ??= server.shutdown().then(async () => {
        detachRegistry(db, "http", http.registry);
        if (ownsTimeseries) await timeseries?.close();
        logger("info", "http server stopped", { url });
      });
      return stopping;
    },
  };
}
