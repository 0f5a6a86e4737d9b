/**
 * CityHall's HTTP API: `startHttpServer` serves a `Database` over HTTP (JSON, raw values,
 * Prometheus metrics). ARCHITECTURE.md § "HTTP API" documents the routes.
 *
 * ```ts
 * import { Database } from "../mod.ts";
 * import { startHttpServer } from "./mod.ts";
 * import { createLogger } from "../util/log.ts";
 * const db = await Database.open("/tmp/cityhall-http-example");
 * const server = await startHttpServer(db, {
 *   hostname: "127.0.0.1",
 *   port: 7880,
 *   logger: createLogger("info"),
 * });
 * // curl -X PUT --data-binary 21.5 http://127.0.0.1:7880/v1/keys/sensor.temp
 * await server.shutdown();
 * await db.close();
 * ```
 *
 * @module
 */

export { type HttpServer, type HttpServerOptions, startHttpServer } from "./server.ts";
export { combineHealth, engineHealth, type HealthProvider } from "./health.ts";
export {
  type ExtraMetricFamily,
  HTTP_LATENCY_BUCKETS_S,
  type HttpFrontStats,
  HttpMetrics,
  PROMETHEUS_CONTENT_TYPE,
  renderMetrics,
  renderStats,
} from "./metrics.ts";
