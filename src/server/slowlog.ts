/**
 * The slow log (SLOWLOG) and the latency monitor (LATENCY), Redis 7.0 style.
 * ARCHITECTURE.md § "Operator commands".
 *
 * - A command that ran longer than `slowlog-log-slower-than` µs (execution time, not the wait for
 *   durability; 0 logs every command, negative none) is logged with its arguments cut like Redis
 *   cuts them (32 arguments, 128 bytes each); the log keeps `slowlog-max-len` entries, newest
 *   first.
 * - With `latency-monitor-threshold` > 0 ms, a command at least that slow is a sample of event
 *   `command` (`fast-command` for commands flagged fast); each event keeps its worst sample per
 *   second, the last `LATENCY_HISTORY_SAMPLES_MAX`, and its all-time maximum.
 *
 * Invariants: `#entries.length <= maxLen`; each event's history is ascending in time and at most
 * `LATENCY_HISTORY_SAMPLES_MAX` long.
 *
 * @module
 */

import {
  LATENCY_HISTORY_SAMPLES_MAX,
  SLOWLOG_ENTRY_ARG_BYTES_MAX,
  SLOWLOG_ENTRY_ARGS_MAX,
} from "../limits.ts";

const encoder = new TextEncoder();

/** One slow log entry. */
export interface SlowLogEntry {
  /** Increasing id. */
  readonly id: number;
  /** When the command started (Unix seconds). */
  readonly timeS: number;
  /** Execution time in microseconds. */
  readonly durationUs: number;
  /** Arguments, cut to the limits. */
  readonly args: Uint8Array[];
  /** Client address `host:port`. */
  readonly addr: string;
  /** Client name. */
  readonly name: string;
}

/** Arguments as a slow log (or MONITOR) keeps them: at most 32, each at most 128 bytes. */
export function trimArgs(args: readonly Uint8Array[]): Uint8Array[] {
  const n = Math.min(args.length, SLOWLOG_ENTRY_ARGS_MAX);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (i === SLOWLOG_ENTRY_ARGS_MAX - 1 && args.length > SLOWLOG_ENTRY_ARGS_MAX) {
      out.push(encoder.encode(`... (${args.length - SLOWLOG_ENTRY_ARGS_MAX + 1} more arguments)`));
      break;
    }
    const a = args[i]!;
    if (a.length <= SLOWLOG_ENTRY_ARG_BYTES_MAX) out.push(a);
    else {
      const tail = encoder.encode(`... (${a.length - SLOWLOG_ENTRY_ARG_BYTES_MAX} more bytes)`);
      const cut = new Uint8Array(SLOWLOG_ENTRY_ARG_BYTES_MAX + tail.length);
      cut.set(a.subarray(0, SLOWLOG_ENTRY_ARG_BYTES_MAX));
      cut.set(tail, SLOWLOG_ENTRY_ARG_BYTES_MAX);
      out.push(cut);
    }
  }
  return out;
}

/** The slow log. */
export class SlowLog {
  #entries: SlowLogEntry[] = [];
  #nextId = 0;

  /** Entries, newest first. */
  get entries(): readonly SlowLogEntry[] {
    return this.#entries;
  }

  /** Adds an entry (already redacted), keeping at most `maxLen`. */
  add(entry: Omit<SlowLogEntry, "id">, maxLen: number): void {
    if (maxLen <= 0) return;
    this.#entries.unshift({ id: this.#nextId++, ...entry, args: trimArgs(entry.args) });
    this.trim(maxLen);
  }

  /** Drops the oldest entries past `maxLen` (CONFIG SET slowlog-max-len). */
  trim(maxLen: number): void {
    if (this.#entries.length > maxLen) this.#entries.length = Math.max(0, maxLen);
  }

  /** SLOWLOG RESET. */
  reset(): void {
    this.#entries = [];
  }
}

/** One second's worst latency of an event. */
export interface LatencySample {
  /** Unix seconds. */
  readonly timeS: number;
  /** Milliseconds. */
  latencyMs: number;
}

interface LatencyEvent {
  samples: LatencySample[];
  maxMs: number;
}

/** The latency monitor: per event, the worst sample per second. */
export class LatencyMonitor {
  readonly #events = new Map<string, LatencyEvent>();

  /** Records `latencyMs` for `event` at `nowMs`. */
  add(event: string, latencyMs: number, nowMs: number): void {
    let e = this.#events.get(event);
    if (e === undefined) this.#events.set(event, e = { samples: [], maxMs: 0 });
    const timeS = Math.floor(nowMs / 1000);
    const last = e.samples.at(-1);
    if (last !== undefined && last.timeS === timeS) {
      last.latencyMs = Math.max(last.latencyMs, latencyMs);
    } else {
      e.samples.push({ timeS, latencyMs });
      if (e.samples.length > LATENCY_HISTORY_SAMPLES_MAX) e.samples.shift();
    }
    e.maxMs = Math.max(e.maxMs, latencyMs);
  }

  /** Events with their latest sample and maximum (LATENCY LATEST). */
  latest(): { event: string; timeS: number; latestMs: number; maxMs: number }[] {
    const out = [];
    for (const [event, e] of this.#events) {
      const last = e.samples.at(-1);
      if (last === undefined) continue;
      out.push({ event, timeS: last.timeS, latestMs: last.latencyMs, maxMs: e.maxMs });
    }
    return out;
  }

  /** The history of `event` (LATENCY HISTORY), oldest first. */
  history(event: string): readonly LatencySample[] {
    return this.#events.get(event)?.samples ?? [];
  }

  /** Forgets `events` (all when empty); returns how many existed (LATENCY RESET). */
  reset(events: readonly string[]): number {
    if (events.length === 0) {
      const n = this.#events.size;
      this.#events.clear();
      return n;
    }
    let n = 0;
    for (const e of events) if (this.#events.delete(e)) n++;
    return n;
  }

  /** Names of the events with samples. */
  events(): string[] {
    return [...this.#events.keys()];
  }
}
