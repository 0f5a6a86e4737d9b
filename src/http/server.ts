/**
 * CityHall's HTTP API on `Deno.serve`: key/value routes, listing with cursors, atomic batches,
 * stats, Prometheus metrics and a health check, plus the lsm-kv-store seed's routes as
 * aliases. ARCHITECTURE.md § "HTTP API" documents every route, status code and limit.
 *
 * Invariants:
 * - Every route except `/healthz` requires the bearer token when one is configured; the
 *   check hashes both sides with SHA-256 and compares digests in constant time.
 * - A write is answered only after the engine's promise resolved (durable under the sync
 *   mode); input is validated in full before the engine is called, so an error writes nothing.
 * - Bodies are bounded before and while they are read (413), list pages by item count and
 *   bytes.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";
import { ClosedError, InvalidArgumentError, IoError, ReadOnlyError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import { createAuthenticator } from "./_auth.ts";
import { HttpError, jsonResponse } from "./_response.ts";
import { isOpenPath, matchRoute, type RequestContext } from "./_routes.ts";
import { QueryParams, splitTarget } from "./_url.ts";
import { HTTP_URL_LENGTH_MAX } from "../limits.ts";
import { HttpMetrics, type MetricsInput, type MetricsSource, renderMetrics } from "./metrics.ts";
import { engineHealth, type HealthProvider } from "./health.ts";

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
  /** The RESP server's numbers for `/metrics` and `/v1/stats`. */
  metrics?: MetricsSource;
  /** PEM certificate chain and private key (contents, not paths) to serve HTTPS. */
  tls?: { cert: string; key: string };
  /** Caps every request body limit below its default (tests, small machines). */
  bodySizeBytesMax?: number;
  /** What `/healthz` checks (503 when it reports problems); default: the engine's state. */
  health?: HealthProvider;
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
  const { logger, metrics: source } = options;
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
  const authenticate = await createAuthenticator(options.authToken);
  const http = new HttpMetrics();
  const health = options.health ?? engineHealth(db);
  const startedMs = Date.now();

  const stats = (): Record<string, unknown> => {
    const server: Record<string, unknown> = {
      version: VERSION,
      uptimeMs: Date.now() - startedMs,
      httpRequests: http.total,
    };
    if (source !== undefined) {
      server.connectedClients = source.connectedClients();
      server.commands = Object.fromEntries(source.commandCounts());
    }
    return { ...db.stats(), server };
  };
  const metrics = (): string => {
    const input: MetricsInput = {
      stats: db.stats(),
      version: VERSION,
      uptimeS: (Date.now() - startedMs) / 1000,
      http,
    };
    if (source !== undefined) input.source = source;
    return renderMetrics(input);
  };

  const handle = async (
    req: Request,
  ): Promise<{ response: Response; route: string; error?: string }> => {
    let seed = false;
    let route = "unknown";
    try {
      if (req.url.length > HTTP_URL_LENGTH_MAX) {
        throw new HttpError(
          414,
          `URL too long: ${req.url.length} characters (limit ${HTTP_URL_LENGTH_MAX})`,
        );
      }
      const target = splitTarget(req.url);
      // Auth before routing: without the token, every path but /healthz looks the same.
      if (!isOpenPath(target.path) && !(await authenticate(req.headers.get("authorization")))) {
        throw new HttpError(
          401,
          req.headers.has("authorization")
            ? "Unauthorized: invalid token"
            : "Unauthorized: missing Authorization: Bearer <token>",
          { "www-authenticate": 'Bearer realm="cityhall"' },
        );
      }
      const match = matchRoute(target.path);
      if (match === undefined) {
        throw new HttpError(404, `Not found: ${req.method} ${shorten(target.path)}`);
      }
      route = match.route.name;
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
      };
      return { response: await handler(ctx), route };
    } catch (err) {
      const e = toHttpError(err);
      if (req.body !== null && !req.bodyUsed) await req.body.cancel().catch(() => {});
      return {
        response: jsonResponse(e.status, errorBody(seed, e.message), e.headers),
        route,
        error: e.message,
      };
    }
  };

  const handler = async (req: Request): Promise<Response> => {
    const t0 = performance.now();
    const { response, route, error } = await handle(req);
    const elapsedMs = performance.now() - t0;
    http.record(route, response.status, elapsedMs / 1000);
    const fields = {
      method: req.method,
      path: shorten(splitTarget(req.url).path),
      status: response.status,
      ms: Math.round(elapsedMs * 1000) / 1000,
      error,
    };
    if (response.status >= 500) logger("warn", "http request failed", fields);
    else logger("debug", "http request", fields);
    return response;
  };

  const serveOptions = {
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    onError: (err: unknown): Response => {
      logger("error", "http handler crashed", { error: String(err) });
      return jsonResponse(500, { error: "Internal error" });
    },
  };
  const server = options.tls === undefined
    ? Deno.serve(serveOptions, handler)
    : Deno.serve({ ...serveOptions, cert: options.tls.cert, key: options.tls.key }, handler);
  const addr = server.addr as Deno.NetAddr;
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
      stopping ??= server.shutdown().then(() => {
        logger("info", "http server stopped", { url });
      });
      return stopping;
    },
  };
}
