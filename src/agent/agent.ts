/**
 * The host agent of `serve --self-metrics[=10s]` (ARCHITECTURE.md § "Host agent"): at every
 * interval boundary it collects the host's readings (Linux) and CityHall's own, and writes each
 * as a sample of a series labelled `host=<hostname>` through a `SampleSink`. It measures what it
 * costs and records that too (`agent_busy_ms`).
 *
 * Invariants:
 * - Timestamps are interval boundaries (multiples of the interval), strictly increasing: a tick
 *   that comes late takes the next boundary, never a used one, so series from one host line up.
 * - One tick at a time: a tick still writing when the next is due makes that one skip.
 * - A failing reader or series is logged once and left out; the others go on.
 *
 * @module
 */

import type { LogFields, Logger } from "../util/log.ts";
import type { HostCollector, Reading } from "./host.ts";
import type { SelfCollector } from "./self.ts";
import type { Labels, SampleSink } from "./sink.ts";

/** Options of `HostAgent`. */
export interface AgentOptions {
  /** Milliseconds between ticks (the CLI default is 10 s). */
  intervalMs: number;
  /** Where the samples go. */
  sink: SampleSink;
  /** The `host` label and the key prefix (default `Deno.hostname()`). */
  hostname: string;
  /** Host readings; absent off Linux. */
  host?: HostCollector;
  /** CityHall's own readings. */
  self?: SelfCollector;
  /** Log sink. */
  logger: Logger;
  /** Clock (tests). */
  nowMs?: () => number;
}

/** Label every agent series carries, so its series can be found (`agent=cityhall`). */
export const AGENT_LABEL = "cityhall";

/** The series key of a reading: `host.<hostname>.<metric>[.<dim value>…]`. */
export function seriesKey(hostname: string, r: Reading): string {
  const dims = Object.values(r.dims ?? {});
  return [`host.${hostname}.${r.metric}`, ...dims].join(".");
}

/** The labels of a reading's series. */
export function seriesLabels(hostname: string, r: Reading): Labels {
  return { host: hostname, agent: AGENT_LABEL, metric: r.metric, ...r.dims };
}

/** What the agent has cost so far. */
export interface AgentCost {
  /** Ticks run. */
  ticks: number;
  /** Milliseconds spent collecting (reading files, computing), summed. */
  collectMs: number;
  /** Milliseconds from the first write to the last one durable, summed (mostly fsync waits). */
  writeMs: number;
  /** Ticks skipped because the previous one was still writing. */
  skipped: number;
}

/** The running agent. */
export class HostAgent {
  readonly #o: AgentOptions;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #lastTs = 0;
  #stopped = false;
  readonly #reported = new Set<string>();
  /** Cost counters. */
  readonly cost: AgentCost = { ticks: 0, collectMs: 0, writeMs: 0, skipped: 0 };

  constructor(options: AgentOptions) {
    if (!Number.isSafeInteger(options.intervalMs) || options.intervalMs < 1) {
      throw new RangeError(`Invalid intervalMs: ${options.intervalMs}`);
    }
    this.#o = options;
    this.#now = options.nowMs ?? Date.now;
  }

  /** Schedules ticks at every interval boundary until `stop`. */
  start(): void {
    const schedule = () => {
      if (this.#stopped) return;
      const interval = this.#o.intervalMs;
      const now = this.#now();
      const next = (Math.floor(now / interval) + 1) * interval;
      this.#timer = setTimeout(() => {
        if (this.#running !== undefined) this.cost.skipped++;
        else {
          this.#running = this.tick(next).catch((err) => {
            this.#o.logger("warn", "self-metrics tick failed", { error: String(err) });
          }).finally(() => this.#running = undefined);
        }
        schedule();
      }, next - now);
      Deno.unrefTimer(this.#timer);
    };
    schedule();
  }

  #once(what: string, message: string, fields: LogFields): void {
    if (this.#reported.has(what)) return;
    this.#reported.add(what);
    this.#o.logger("warn", message, fields);
  }

  /** Collects and writes one tick stamped `ts` (tests call it directly). */
  async tick(ts: number): Promise<void> {
    if (ts <= this.#lastTs) return;
    this.#lastTs = ts;
    const t0 = performance.now();
    const readings: Reading[] = [];
    if (this.#o.host !== undefined) {
      readings.push(...this.#o.host.collect(ts));
      for (const [reader, error] of this.#o.host.problems) {
        this.#once(
          `reader ${reader}`,
          "self-metrics: a host reader fails, its metrics are left out",
          {
            reader,
            error,
          },
        );
      }
    }
    if (this.#o.self !== undefined) readings.push(...this.#o.self.collect(ts));
    const collectMs = performance.now() - t0;
    this.cost.collectMs += collectMs;
    readings.push({ metric: "agent_busy_ms", value: Math.round(collectMs * 1000) / 1000 });
    const host = this.#o.hostname;
    const t1 = performance.now();
    await Promise.all(readings.map(async (r) => {
      const key = seriesKey(host, r);
      try {
        await this.#o.sink.addSamples(key, seriesLabels(host, r), [[ts, r.value]]);
      } catch (err) {
        this.#once(`series ${key}`, "self-metrics: cannot write a series, it is left out", {
          key,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }));
    this.cost.writeMs += performance.now() - t1;
    this.cost.ticks++;
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
