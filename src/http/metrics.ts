/**
 * The HTTP server's stats, declared once in its registry (ARCHITECTURE.md § "Metrics
 * registry"), and `GET /metrics`: the Prometheus text exposition format 0.0.4 of every registry
 * describing the database (the engine's, the RESP server's, this one's, ingest and export),
 * then the families a role hands over (a fleet hub's sites). ARCHITECTURE.md § "HTTP API" lists
 * the families.
 *
 * @module
 */

import {
  type CounterVec,
  externalFamilies,
  type ExternalFamily,
  gather,
  type Histogram,
  HTTP_LATENCY_BUCKETS_S,
  PROMETHEUS_CONTENT_TYPE,
  Registry,
  renderJson,
  renderPrometheus,
} from "../metrics/mod.ts";
import { registriesOf } from "../export/metrics.ts";
import { engineFacts, type StatsProvider } from "../engine/metrics.ts";
import { VERSION } from "../version.ts";
import { assert } from "../util/assert.ts";

export { HTTP_LATENCY_BUCKETS_S, PROMETHEUS_CONTENT_TYPE };

/** A metric family a role renders through `/metrics` (declared once in its own module). */
export type ExtraMetricFamily = ExternalFamily;

/** Connection, body budget and deadline numbers of the HTTP front. */
export interface HttpFrontStats {
  /** Connections open now. */
  connections: number;
  /** Connections refused (503) because the connection cap was reached. */
  connectionsRefused: number;
  /** Body budget bytes taken now. */
  bodyBudgetBytes: number;
  /** Body budget size. */
  bodyBudgetCapacityBytes: number;
  /** Requests refused (503) because the body budget stayed full. */
  bodyBudgetRefusals: number;
  /** Connections closed by a deadline, by phase (`head`, `body`, `idle`, `write`). */
  timeouts: Record<string, number>;
}

const TIMEOUT_PHASES = ["head", "body", "idle", "write"] as const;

/** Requests and latency of the HTTP server, by route and status code, in its own registry. */
export class HttpMetrics {
  /** The declarations (JSON under `http`, INFO section `http`). */
  readonly registry: Registry = new Registry({ jsonPrefix: "http", infoSection: "http" });
  /** The front's numbers, when a server runs. */
  front?: () => HttpFrontStats;
  /** Requests per route and status code. */
  readonly requests: CounterVec;
  /** Latency of every request, in seconds. */
  readonly latency: Histogram;
  /** When the server started (ms since epoch). */
  readonly startedMs: number = Date.now();

  /** Declares the HTTP server's stats. */
  constructor() {
    const r = this.registry;
    r.collect({
      name: "cityhall_build_info",
      help: "CityHall version; always 1",
      type: "gauge",
      unit: "1",
      labels: ["version"],
      // The version is a fact: INFO server and /v1/stats show it as text.
      info: false,
      json: false,
    }, () => [{ labels: [VERSION], value: 1 }]);
    r.collect({
      name: "cityhall_uptime_seconds",
      help: "Seconds since the HTTP server started",
      type: "gauge",
      unit: "seconds",
      info: { section: "http", field: "http_uptime_seconds" },
      json: "http.uptimeSeconds",
    }, () => (Date.now() - this.startedMs) / 1000);
    this.requests = r.counterVec({
      name: "cityhall_http_requests_total",
      help: "HTTP requests, by route and status code",
      unit: "1",
      labels: ["route", "code"],
      json: "http.requests",
    });
    this.latency = r.histogram({
      name: "cityhall_http_request_duration_seconds",
      help: "HTTP request latency",
      unit: "seconds",
      json: "http.requestDurationSeconds",
    }, HTTP_LATENCY_BUCKETS_S);
    const front = <K extends keyof HttpFrontStats>(k: K, none: HttpFrontStats[K]) => () =>
      this.front?.()[k] ?? none;
    r.collectAll([
      {
        name: "cityhall_http_connections",
        help: "HTTP connections open now",
        type: "gauge",
        unit: "1",
        json: "http.connections",
        collect: front("connections", 0),
      },
      {
        name: "cityhall_http_connections_refused_total",
        help: "HTTP connections refused with 503 because the connection cap was reached",
        type: "counter",
        unit: "1",
        json: "http.connectionsRefused",
        collect: front("connectionsRefused", 0),
      },
      {
        name: "cityhall_http_body_budget_bytes",
        help: "Request body bytes held by HTTP requests now (global body budget in use)",
        type: "gauge",
        unit: "bytes",
        json: "http.bodyBudgetBytes",
        collect: front("bodyBudgetBytes", 0),
      },
      {
        name: "cityhall_http_body_budget_capacity_bytes",
        help: "Size of the global HTTP body budget",
        type: "gauge",
        unit: "bytes",
        json: "http.bodyBudgetCapacityBytes",
        collect: front("bodyBudgetCapacityBytes", 0),
      },
      {
        name: "cityhall_http_body_budget_refusals_total",
        help: "HTTP requests refused with 503 because the body budget stayed full",
        type: "counter",
        unit: "1",
        json: "http.bodyBudgetRefusals",
        collect: front("bodyBudgetRefusals", 0),
      },
      {
        name: "cityhall_http_timeouts_total",
        help: "HTTP connections closed by a deadline, by phase",
        type: "counter",
        unit: "1",
        labels: ["phase"],
        json: "http.timeouts",
        collect: () => {
          const t = this.front?.().timeouts ?? {};
          return TIMEOUT_PHASES.map((phase) => ({ labels: [phase], value: t[phase] ?? 0 }));
        },
      },
    ]);
  }

  /** Records one request. */
  record(route: string, code: number, latencyS: number): void {
    this.requests.inc([route, String(code)]);
    this.latency.observe(latencyS);
  }

  /** Requests served since start. */
  get total(): number {
    return this.latency.count;
  }
}

/** `/metrics` of `db`: every registry describing it, then the role's families. */
export function renderMetrics(
  db: StatsProvider,
  extra: () => readonly ExternalFamily[] = () => [],
): string {
  const declared = gather(registriesOf(db));
  const names = new Set(declared.map((f) => f.spec.name));
  const more = externalFamilies(extra());
  for (const f of more) {
    assert(!names.has(f.spec.name), `metric ${f.spec.name} declared twice`);
    names.add(f.spec.name);
  }
  return renderPrometheus([...declared, ...more]);
}

/**
 * `/v1/stats` of `db`: the JSON view of every registry describing it, the engine's facts
 * (compaction style, a fatal error), and `server` facts (version, uptime, requests).
 */
export function renderStats(db: StatsProvider, http: HttpMetrics): Record<string, unknown> {
  const json = renderJson(gather(registriesOf(db)));
  const server = (json.server ?? {}) as Record<string, unknown>;
  return {
    ...json,
    ...engineFacts(db.stats()),
    server: {
      version: VERSION,
      uptimeMs: Date.now() - http.startedMs,
      httpRequests: http.total,
      ...server,
    },
  };
}
