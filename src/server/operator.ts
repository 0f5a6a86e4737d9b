/**
 * What the server does around every command for its operators: the MONITOR feed, the slow log,
 * the latency monitor, CLIENT PAUSE, and the cron (`hz` times a second, Redis's setting) that
 * runs the expiry tracker and samples the instantaneous metrics every 100 ms (every tick when
 * ticks are slower, as Redis's `run_with_period`). ARCHITECTURE.md § "Operator commands".
 *
 * The cron sleeps while it has nothing to do: once no client has been connected (and `expired`
 * events were off) for more ticks than the instantaneous metrics keep samples, every sample
 * held is a zero that the next ones would repeat, so it stops rescheduling itself until the
 * server's next client (`wake`). An idle server then runs no timer ten times a second, whose
 * code V8 would compile with Maglev after some seconds (~2 MiB of the executable's code pages:
 * ARCHITECTURE.md § "Memory").
 *
 * The per-command cost when nothing is on is three comparisons (`afterCommand`).
 *
 * @module
 */

import {
  INSTANTANEOUS_METRIC_SAMPLES,
  PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
  PUBSUB_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT,
  PUBSUB_OUTPUT_SOFT_LIMIT_S_DEFAULT,
  SERVER_CRON_INTERVAL_MS,
  SERVER_HZ_DEFAULT,
} from "../limits.ts";
import type { Logger } from "../util/log.ts";
import type { Client, CommandSpec, ServerConfig } from "./context.ts";
import type { ServerMetrics } from "./metrics.ts";
import { hiddenFromMonitor, MonitorFeed, redactArgs } from "./monitor.ts";
import type { KeyspaceNotifier } from "./notifications.ts";
import { ClientPause } from "./pause.ts";
import { LatencyMonitor, SlowLog } from "./slowlog.ts";

/** Redis's default for `slowlog-log-slower-than` (µs). */
export const SLOWLOG_LOG_SLOWER_THAN_US_DEFAULT = 10_000;
/** Redis's default for `slowlog-max-len`. */
export const SLOWLOG_MAX_LEN_DEFAULT = 128;

/** The defaults of the settings this file and the pub/sub code add to `ServerConfig`. */
export function operatorConfigDefaults(): Pick<
  ServerConfig,
  | "pubsubHardLimitBytes"
  | "pubsubSoftLimitBytes"
  | "pubsubSoftLimitS"
  | "slowlogLogSlowerThanUs"
  | "slowlogMaxLen"
  | "latencyMonitorThresholdMs"
  | "hz"
> {
  return {
    pubsubHardLimitBytes: PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
    pubsubSoftLimitBytes: PUBSUB_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT,
    pubsubSoftLimitS: PUBSUB_OUTPUT_SOFT_LIMIT_S_DEFAULT,
    slowlogLogSlowerThanUs: SLOWLOG_LOG_SLOWER_THAN_US_DEFAULT,
    slowlogMaxLen: SLOWLOG_MAX_LEN_DEFAULT,
    latencyMonitorThresholdMs: 0,
    hz: SERVER_HZ_DEFAULT,
  };
}

/** What the operator machinery needs from the server. */
export interface OperatorHost {
  /** Run-time settings (thresholds, output limits). */
  readonly config: ServerConfig;
  /** Counters. */
  readonly metrics: ServerMetrics;
  /** Log sink. */
  readonly logger: Logger;
  /** Keyspace notifications (its expiry tracker runs on the cron). */
  readonly notifier: KeyspaceNotifier;
  /** The connected clients (the cron sleeps while there are none). */
  readonly clients: { readonly size: number };
}

/** Slow log, latency monitor, MONITOR feed, pause and the cron of one server. */
export class Operator {
  /** SLOWLOG. */
  readonly slowlog: SlowLog = new SlowLog();
  /** LATENCY. */
  readonly latency: LatencyMonitor = new LatencyMonitor();
  /** MONITOR clients. */
  readonly monitors: MonitorFeed;
  /** CLIENT PAUSE state. */
  readonly pause: ClientPause = new ClientPause();
  readonly #host: OperatorHost;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #ticking = false;
  #lastSampleMs = 0;
  /** Samples taken in a row with no client connected and `expired` events off. */
  #idleSamples = 0;

  /** The machinery of the server `host`; `start()` runs its cron. */
  constructor(host: OperatorHost) {
    this.#host = host;
    this.monitors = new MonitorFeed(host);
  }

  /** Starts the cron (`config.hz` times a second, never keeping the process alive). */
  start(): void {
    this.#running = true;
    this.wake();
  }

  /** Stops the cron and ends any pause. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.pause.unpause();
  }

  /** A client connected: the cron runs again if it was asleep. */
  wake(): void {
    this.#idleSamples = 0;
    if (this.#running && this.#timer === undefined) this.#schedule();
  }

  /** True while the cron sleeps (started, but no tick scheduled until a client connects). */
  get asleep(): boolean {
    return this.#running && this.#timer === undefined;
  }

  /** The next tick, `1000 / hz` ms away: a CONFIG SET hz applies from the next one. */
  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick();
      // Asleep past more idle samples than the metrics keep: each of them is a zero now.
      if (this.#running && this.#idleSamples <= INSTANTANEOUS_METRIC_SAMPLES) this.#schedule();
    }, 1000 / this.#host.config.hz);
    Deno.unrefTimer(this.#timer);
  }

  #tick(): void {
    const now = Date.now();
    const idle = this.#host.clients.size === 0 && !this.#host.notifier.tracker.enabled;
    if (!idle) this.#idleSamples = 0;
    // 5 ms early still counts: timers fire a little late and sometimes a tick a little early.
    if (now - this.#lastSampleMs >= SERVER_CRON_INTERVAL_MS - 5) {
      this.#lastSampleMs = now;
      this.#host.metrics.sampleInstantaneous(now);
      // The first idle sample may still count the last client's commands: it is one of the
      // samples the metrics keep until more than that many idle ones followed it.
      if (idle) this.#idleSamples++;
    }
    // Like Redis, keys do not expire while clients are paused: the dataset stays still.
    if (this.#ticking || this.pause.mode !== undefined) return;
    this.#ticking = true;
    this.#host.notifier.tracker.tick(now).catch((err) => {
      this.#host.logger("warn", "expiry sweep failed", { error: String(err) });
    }).finally(() => this.#ticking = false);
  }

  /** Before a batch of commands: publish `expired` for tracked keys whose time has passed. */
  beforeBatch(): void {
    const tracker = this.#host.notifier.tracker;
    if (!tracker.enabled || this.pause.mode !== undefined) return;
    const now = Date.now();
    if (tracker.due(now)) tracker.expireDue(now);
  }

  /**
   * After `client` ran `spec` (`args`), started at `startPerfMs` (`performance.now()`; the Unix
   * time is made only when a monitor or the slow log wants it) and taking `durationS` seconds of
   * execution: feed monitors, the slow log and the latency monitor.
   */
  afterCommand(
    client: Client,
    spec: CommandSpec,
    args: readonly Uint8Array[],
    startPerfMs: number,
    durationS: number,
  ): void {
    if (this.monitors.size > 0 && !hiddenFromMonitor(spec, args)) {
      this.monitors.feed(client, spec.name, args, performance.timeOrigin + startPerfMs);
    }
    const config = this.#host.config;
    const us = Math.round(durationS * 1e6);
    if (
      config.slowlogLogSlowerThanUs >= 0 && us > config.slowlogLogSlowerThanUs &&
      !spec.flags.includes("skip_slowlog")
    ) {
      this.slowlog.add({
        timeS: Math.floor((performance.timeOrigin + startPerfMs) / 1000),
        durationUs: us,
        args: redactArgs(spec.name, args) as Uint8Array[],
        addr: client.addr,
        name: client.name,
      }, config.slowlogMaxLen);
    }
    const thresholdMs = config.latencyMonitorThresholdMs;
    if (thresholdMs > 0 && durationS * 1000 >= thresholdMs) {
      const event = spec.flags.includes("fast") ? "fast-command" : "command";
      this.latency.add(event, Math.round(durationS * 1000), Date.now());
    }
  }
}
