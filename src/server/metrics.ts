/**
 * The numbers the RESP server keeps: calls, failed calls and a latency histogram (THE
 * `Histogram` of `src/metrics/`) per command name, and connection and traffic counters. Plain
 * fields, bumped on hot paths; `metric_decls.ts` declares each once in the server's registry,
 * from which INFO, `/metrics` and `/v1/stats` render (ARCHITECTURE.md § "Metrics registry").
 *
 * @module
 */

import { INSTANTANEOUS_METRIC_SAMPLES } from "../limits.ts";
import { COMMAND_LATENCY_BUCKETS_S, Histogram } from "../metrics/histogram.ts";

export { Histogram };

/** Upper bounds (seconds) of the command latency buckets; the last bucket is +Inf. */
export const LATENCY_BUCKETS_S: readonly number[] = COMMAND_LATENCY_BUCKETS_S;

/** Metrics of one command name. */
export interface CommandStats {
  /** Calls, failed ones included. */
  calls: number;
  /** Calls answered with an error. */
  failedCalls: number;
  /** Execution latency (parsing excluded; durability wait excluded). */
  latency: Histogram;
}

/**
 * A rate sampled like Redis's `trackInstantaneousMetric`: every sample is the per-second rate
 * since the previous one; the value is the mean of the last `INSTANTANEOUS_METRIC_SAMPLES`.
 */
export class InstantaneousMetric {
  readonly #samples: number[] = new Array(INSTANTANEOUS_METRIC_SAMPLES).fill(0);
  #index = 0;
  #lastMs = 0;
  #lastReading = 0;

  /** Takes a sample of the counter `reading` at `nowMs`. */
  sample(reading: number, nowMs: number): void {
    const elapsedMs = nowMs - this.#lastMs;
    const delta = reading - this.#lastReading;
    this.#samples[this.#index] = elapsedMs > 0 && this.#lastMs > 0
      ? Math.floor((delta * 1000) / elapsedMs)
      : 0;
    this.#index = (this.#index + 1) % INSTANTANEOUS_METRIC_SAMPLES;
    this.#lastMs = nowMs;
    this.#lastReading = reading;
  }

  /** The mean rate per second over the samples. */
  get value(): number {
    let sum = 0;
    for (const s of this.#samples) sum += s;
    return Math.floor(sum / INSTANTANEOUS_METRIC_SAMPLES);
  }

  /** Forgets the samples (CONFIG RESETSTAT); `reading` is the counter now. */
  reset(reading: number): void {
    this.#samples.fill(0);
    this.#lastReading = reading;
  }
}

/** Counters of the whole server and per command. */
export class ServerMetrics {
  /** Per lowercase command name. */
  readonly commands: Map<string, CommandStats> = new Map();
  /** Connections accepted since start (or the last CONFIG RESETSTAT). */
  connectionsReceived = 0;
  /** Connections refused because of `maxclients`. */
  connectionsRejected = 0;
  /** Commands processed. */
  commandsProcessed = 0;
  /** Bytes read from clients. */
  netInputBytes = 0;
  /** Bytes written to clients. */
  netOutputBytes = 0;
  /** Reads that found their key. */
  keyspaceHits = 0;
  /** Reads that did not. */
  keyspaceMisses = 0;
  /** Connections closed for a protocol error. */
  protocolErrors = 0;
  /** Failed commands (error replies). */
  errorReplies = 0;
  /** Clients closed for passing an output buffer limit (hard or soft). */
  outputLimitDisconnections = 0;
  /** Clients closed because one unfinished command passed the query buffer limit. */
  queryLimitDisconnections = 0;
  /** Clients closed after the idle timeout. */
  idleTimeouts = 0;
  /** Clients closed for not authenticating in time. */
  authTimeouts = 0;
  /** Clients closed because a command did not arrive complete in time. */
  requestTimeouts = 0;
  /** Clients closed because their replies were not read in time. */
  outputDrainTimeouts = 0;
  /** Failed AUTH attempts (AUTH and HELLO ... AUTH). */
  authFailures = 0;
  /** Clients closed after too many failed AUTHs. */
  authFailureDisconnections = 0;
  /** Unauthenticated clients closed to make room for new connections. */
  unauthenticatedEvictions = 0;
  /** Transactions run (EXEC that ran its commands). */
  transactionsExecuted = 0;
  /** Transactions aborted: EXECABORT, or a WATCHed key changed (null reply). */
  transactionsAborted = 0;
  /** Commands per second (INFO `instantaneous_ops_per_sec`). */
  readonly opsPerSec: InstantaneousMetric = new InstantaneousMetric();
  /** Bytes read per second (INFO `instantaneous_input_kbps` × 1024). */
  readonly inputBytesPerSec: InstantaneousMetric = new InstantaneousMetric();
  /** Bytes written per second (INFO `instantaneous_output_kbps` × 1024). */
  readonly outputBytesPerSec: InstantaneousMetric = new InstantaneousMetric();

  /** Takes one sample of every instantaneous metric (the server cron, every 100 ms). */
  sampleInstantaneous(nowMs: number): void {
    this.opsPerSec.sample(this.commandsProcessed, nowMs);
    this.inputBytesPerSec.sample(this.netInputBytes, nowMs);
    this.outputBytesPerSec.sample(this.netOutputBytes, nowMs);
  }

  /** Records one command execution. */
  record(name: string, latencyS: number, failed: boolean): void {
    let s = this.commands.get(name);
    if (s === undefined) {
      s = { calls: 0, failedCalls: 0, latency: new Histogram(COMMAND_LATENCY_BUCKETS_S) };
      this.commands.set(name, s);
    }
    s.calls++;
    if (failed) {
      s.failedCalls++;
      this.errorReplies++;
    }
    s.latency.observe(latencyS);
    this.commandsProcessed++;
  }

  /** Resets every counter (CONFIG RESETSTAT). */
  reset(): void {
    this.commands.clear();
    this.connectionsReceived = 0;
    this.connectionsRejected = 0;
    this.commandsProcessed = 0;
    this.netInputBytes = 0;
    this.netOutputBytes = 0;
    this.keyspaceHits = 0;
    this.keyspaceMisses = 0;
    this.protocolErrors = 0;
    this.errorReplies = 0;
    this.outputLimitDisconnections = 0;
    this.queryLimitDisconnections = 0;
    this.idleTimeouts = 0;
    this.authTimeouts = 0;
    this.requestTimeouts = 0;
    this.outputDrainTimeouts = 0;
    this.authFailures = 0;
    this.authFailureDisconnections = 0;
    this.unauthenticatedEvictions = 0;
    this.transactionsExecuted = 0;
    this.transactionsAborted = 0;
    this.opsPerSec.reset(0);
    this.inputBytesPerSec.reset(0);
    this.outputBytesPerSec.reset(0);
  }
}
