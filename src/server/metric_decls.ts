/**
 * The RESP server's stats, declared once in its registry (ARCHITECTURE.md § "Metrics
 * registry"): `/metrics` names, INFO fields (Redis's names where Redis clients read them) and
 * `/v1/stats` keys (under `server`). The numbers themselves stay plain fields of
 * `ServerMetrics` and of the parts that own them, bumped on hot paths; the registry reads them
 * at render time.
 *
 * @module
 */

import { type InfoPlacement, type MetricSpec, Registry, type Sample } from "../metrics/mod.ts";
import type { Client, ServerState } from "./context.ts";
import { registryFor } from "./commands/blocking_registry.ts";
import type { ServerMetrics } from "./metrics.ts";

type Spec = MetricSpec & { collect: () => number | Sample[] };

type CpuUsage = { user: number; system: number };
/**
 * This process's CPU time in µs: `Deno.cpuUsage`, which node:process's `cpuUsage` calls (not in
 * Deno 2.9's types). Importing node:process would load the Node layer into every server at start
 * (~1 MiB of idle RSS, ARCHITECTURE.md § "Memory"). NaN (INFO shows it) if a Deno lacks it.
 */
const cpuUsage = (): CpuUsage =>
  (Deno as unknown as { cpuUsage?: () => CpuUsage }).cpuUsage?.() ?? { user: NaN, system: NaN };

/** INFO `stats`, field `field`. */
const stats = (field: string): InfoPlacement => ({ section: "stats", field });
/** INFO `clients`, field `field`. */
const clients = (field: string): InfoPlacement => ({ section: "clients", field });

/** A counter of `ServerMetrics` shown in INFO stats as `field`. */
function counter(
  m: ServerMetrics,
  name: string,
  help: string,
  field: string,
  key: {
    [K in keyof ServerMetrics]: ServerMetrics[K] extends number ? K : never;
  }[keyof ServerMetrics],
  unit: "1" | "bytes" = "1",
): Spec {
  return { name, help, type: "counter", unit, info: stats(field), collect: () => m[key] };
}

/** Declares the RESP server's stats of `s` in a new registry (JSON under `server`). */
export function serverRegistry(s: ServerState): Registry {
  const r = new Registry({ jsonPrefix: "server", infoSection: "stats" });
  const m = s.metrics;
  let mem = Deno.memoryUsage();
  let cpu = cpuUsage();
  r.beforeCollect(() => {
    mem = Deno.memoryUsage();
    cpu = cpuUsage();
  });
  const countClients = (f: (c: Client) => boolean) => () => {
    let n = 0;
    for (const c of s.clients.values()) if (f(c)) n++;
    return n;
  };
  r.collectAll([
    // INFO clients.
    {
      name: "cityhall_connected_clients",
      help: "RESP connections open now",
      type: "gauge",
      unit: "1",
      info: clients("connected_clients"),
      collect: () => s.clients.size,
    },
    {
      name: "cityhall_blocked_clients",
      help: "Clients waiting in a blocking command (BLPOP, BZPOPMIN\u2026) or held by CLIENT PAUSE",
      type: "gauge",
      unit: "1",
      info: clients("blocked_clients"),
      collect: () => (registryFor(s.clients)?.count ?? 0) + s.operator.pause.held,
    },
    {
      name: "cityhall_watching_clients",
      help: "Clients with WATCHed keys",
      type: "gauge",
      unit: "1",
      info: clients("watching_clients"),
      collect: countClients((c) => c.watched !== undefined),
    },
    {
      name: "cityhall_watched_keys",
      help: "Keys WATCHed by some client",
      type: "gauge",
      unit: "1",
      info: clients("total_watched_keys"),
      collect: () => s.watches.size,
    },
    {
      name: "cityhall_tracking_clients",
      help: "Clients with CLIENT TRACKING on (client-side caching)",
      type: "gauge",
      unit: "1",
      info: clients("tracking_clients"),
      collect: () => s.tracking.clients,
    },
    {
      name: "cityhall_unauthenticated_clients",
      help: "Connections that have not authenticated yet",
      type: "gauge",
      unit: "1",
      info: clients("cityhall_unauthenticated_clients"),
      collect: countClients((c) => !c.authenticated),
    },
    {
      name: "cityhall_clients_in_multi",
      help: "Clients inside MULTI",
      type: "gauge",
      unit: "1",
      info: clients("cityhall_clients_in_multi"),
      collect: countClients((c) => c.multi !== undefined),
    },
    {
      name: "cityhall_pubsub_clients",
      help: "Clients with a subscription",
      type: "gauge",
      unit: "1",
      info: clients("cityhall_pubsub_clients"),
      collect: countClients((c) => c.subscriptions !== undefined),
    },
    {
      name: "cityhall_monitor_clients",
      help: "Clients in MONITOR mode",
      type: "gauge",
      unit: "1",
      info: clients("cityhall_monitor_clients"),
      collect: () => s.operator.monitors.size,
    },
    {
      name: "cityhall_pubsub_subscriptions",
      help: "Channel and pattern subscriptions of every client",
      type: "gauge",
      unit: "1",
      info: clients("cityhall_pubsub_subscriptions"),
      collect: () => s.pubsub.subscriptions,
    },
    // INFO memory and cpu (the process).
    {
      name: "cityhall_memory_used_bytes",
      help: "JavaScript heap and external memory in use",
      type: "gauge",
      unit: "bytes",
      info: { section: "memory", field: "used_memory", human: true },
      collect: () => mem.heapUsed + mem.external,
    },
    {
      name: "cityhall_memory_rss_bytes",
      help: "Resident set size of the process",
      type: "gauge",
      unit: "bytes",
      info: { section: "memory", field: "used_memory_rss", human: true },
      collect: () => mem.rss,
    },
    {
      name: "cityhall_cpu_system_seconds_total",
      help: "CPU time the process spent in the kernel",
      type: "counter",
      unit: "seconds",
      info: { section: "cpu", field: "used_cpu_sys", format: (v) => v.toFixed(6) },
      collect: () => cpu.system / 1e6,
    },
    {
      name: "cityhall_cpu_user_seconds_total",
      help: "CPU time the process spent in user space",
      type: "counter",
      unit: "seconds",
      info: { section: "cpu", field: "used_cpu_user", format: (v) => v.toFixed(6) },
      collect: () => cpu.user / 1e6,
    },
    // INFO stats.
    counter(
      m,
      "cityhall_connections_received_total",
      "RESP connections accepted",
      "total_connections_received",
      "connectionsReceived",
    ),
    counter(
      m,
      "cityhall_commands_processed_total",
      "RESP commands processed",
      "total_commands_processed",
      "commandsProcessed",
    ),
    {
      name: "cityhall_instantaneous_ops_per_second",
      help:
        "RESP commands per second, mean of the last samples (Redis's instantaneous_ops_per_sec)",
      type: "gauge",
      unit: "1",
      info: stats("instantaneous_ops_per_sec"),
      collect: () => m.opsPerSec.value,
    },
    counter(
      m,
      "cityhall_net_input_bytes_total",
      "Bytes read from RESP clients",
      "total_net_input_bytes",
      "netInputBytes",
      "bytes",
    ),
    counter(
      m,
      "cityhall_net_output_bytes_total",
      "Bytes written to RESP clients",
      "total_net_output_bytes",
      "netOutputBytes",
      "bytes",
    ),
    {
      name: "cityhall_instantaneous_input_bytes_per_second",
      help: "Bytes read from RESP clients per second, mean of the last samples",
      type: "gauge",
      unit: "bytes",
      info: { section: "stats", field: "instantaneous_input_kbps", format: kbps },
      collect: () => m.inputBytesPerSec.value,
    },
    {
      name: "cityhall_instantaneous_output_bytes_per_second",
      help: "Bytes written to RESP clients per second, mean of the last samples",
      type: "gauge",
      unit: "bytes",
      info: { section: "stats", field: "instantaneous_output_kbps", format: kbps },
      collect: () => m.outputBytesPerSec.value,
    },
    counter(
      m,
      "cityhall_connections_rejected_total",
      "RESP connections refused because of maxclients",
      "rejected_connections",
      "connectionsRejected",
    ),
    {
      name: "cityhall_expired_keys_total",
      help: "Keys deleted because their time to live passed",
      type: "counter",
      unit: "1",
      info: stats("expired_keys"),
      collect: () => s.notifier.tracker.expiredKeys,
    },
    {
      name: "cityhall_evicted_keys_total",
      help: "Keys evicted for memory; always 0 (CityHall keeps every key on disk)",
      type: "counter",
      unit: "1",
      info: stats("evicted_keys"),
      collect: () => 0,
    },
    counter(
      m,
      "cityhall_keyspace_hits_total",
      "Reads that found their key",
      "keyspace_hits",
      "keyspaceHits",
    ),
    counter(
      m,
      "cityhall_keyspace_misses_total",
      "Reads that did not find their key",
      "keyspace_misses",
      "keyspaceMisses",
    ),
    {
      name: "cityhall_tracking_keys",
      help: "Keys the client-side caching table remembers",
      type: "gauge",
      unit: "1",
      info: stats("tracking_total_keys"),
      collect: () => s.tracking.totalKeys,
    },
    {
      name: "cityhall_tracking_items",
      help: "Key and client pairs the client-side caching table remembers",
      type: "gauge",
      unit: "1",
      info: stats("tracking_total_items"),
      collect: () => s.tracking.totalItems,
    },
    {
      name: "cityhall_tracking_prefixes",
      help: "Distinct BCAST prefixes of client-side caching",
      type: "gauge",
      unit: "1",
      info: stats("tracking_total_prefixes"),
      collect: () => s.tracking.totalPrefixes,
    },
    {
      name: "cityhall_pubsub_channels",
      help: "Channels with at least one subscriber",
      type: "gauge",
      unit: "1",
      info: stats("pubsub_channels"),
      collect: () => s.pubsub.channelCount("channel"),
    },
    {
      name: "cityhall_pubsub_patterns",
      help: "Patterns with at least one subscriber",
      type: "gauge",
      unit: "1",
      info: stats("pubsub_patterns"),
      collect: () => s.pubsub.patternCount,
    },
    {
      name: "cityhall_pubsub_shard_channels",
      help: "Shard channels with at least one subscriber",
      type: "gauge",
      unit: "1",
      info: stats("pubsubshard_channels"),
      collect: () => s.pubsub.channelCount("shard"),
    },
    counter(
      m,
      "cityhall_error_replies_total",
      "Commands answered with an error",
      "total_error_replies",
      "errorReplies",
    ),
    counter(
      m,
      "cityhall_query_buffer_limit_disconnections_total",
      "Clients closed because one unfinished command passed the query buffer limit",
      "client_query_buffer_limit_disconnections",
      "queryLimitDisconnections",
    ),
    counter(
      m,
      "cityhall_output_buffer_limit_disconnections_total",
      "Clients closed for passing an output buffer limit",
      "client_output_buffer_limit_disconnections",
      "outputLimitDisconnections",
    ),
    ...([
      ["protocol_errors", "Connections closed for a protocol error", "protocolErrors"],
      ["idle_timeouts", "Clients closed after the idle timeout", "idleTimeouts"],
      ["auth_timeouts", "Clients closed for not authenticating in time", "authTimeouts"],
      [
        "request_timeouts",
        "Clients closed because a command did not arrive complete in time",
        "requestTimeouts",
      ],
      [
        "output_drain_timeouts",
        "Clients closed because their replies were not read in time",
        "outputDrainTimeouts",
      ],
      ["auth_failures", "Failed AUTH attempts", "authFailures"],
      [
        "auth_failure_disconnections",
        "Clients closed after too many failed AUTHs",
        "authFailureDisconnections",
      ],
      [
        "unauthenticated_evictions",
        "Unauthenticated clients closed to make room for new connections",
        "unauthenticatedEvictions",
      ],
      [
        "transactions_executed",
        "Transactions run (EXEC ran their commands)",
        "transactionsExecuted",
      ],
      [
        "transactions_aborted",
        "Transactions aborted (EXECABORT, or a WATCHed key changed)",
        "transactionsAborted",
      ],
    ] as const).map(([short, help, key]) =>
      counter(m, `cityhall_${short}_total`, help, `cityhall_${short}`, key)
    ),
    // Per command: INFO commandstats and LATENCY HISTOGRAM show these in Redis's formats.
    {
      name: "cityhall_commands_total",
      help: "RESP commands processed, by name",
      type: "counter",
      unit: "1",
      labels: ["command"],
      info: false,
      json: "server.commands",
      collect: () => [...m.commands].map(([name, c]) => ({ labels: [name], value: c.calls })),
    },
    {
      name: "cityhall_command_errors_total",
      help: "RESP commands answered with an error, by name",
      type: "counter",
      unit: "1",
      labels: ["command"],
      info: false,
      json: "server.commandErrors",
      collect: () => [...m.commands].map(([name, c]) => ({ labels: [name], value: c.failedCalls })),
    },
  ]);
  r.collect({
    name: "cityhall_command_duration_seconds",
    help: "RESP command execution latency",
    type: "histogram",
    unit: "seconds",
    labels: ["command"],
    info: false,
    json: "server.commandDurationSeconds",
  }, () => [...m.commands].map(([name, c]) => ({ labels: [name], value: c.latency })));
  return r;
}

function kbps(bytesPerSecond: number): string {
  return (bytesPerSecond / 1024).toFixed(2);
}
