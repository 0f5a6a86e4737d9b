/**
 * Reconnect delays: exponential backoff with full jitter between a floor and a ceiling.
 *
 * Failure n (from 1) waits a random time in `[baseMs, min(maxMs, baseMs · 2^(n−1))]`, so the
 * ceiling doubles up to `maxMs` and many replicas that lost the same leader do not come back
 * in step. `reset()` after a healthy session starts again from `baseMs`.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { BACKOFF_BASE_MS_DEFAULT, BACKOFF_MAX_MS_DEFAULT } from "../limits.ts";

/** Options of `Backoff`. */
export interface BackoffOptions {
  /** Shortest delay and first ceiling (default 1000 ms). */
  baseMs?: number;
  /** Longest delay (default 60,000 ms). */
  maxMs?: number;
  /** Random source in [0, 1) (tests pass a seeded one). */
  random?: () => number;
}

/** Exponential backoff with full jitter. */
export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly #random: () => number;
  #failures = 0;

  /** Validates the options; throws `InvalidArgumentError`. */
  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? BACKOFF_BASE_MS_DEFAULT;
    this.maxMs = options.maxMs ?? BACKOFF_MAX_MS_DEFAULT;
    this.#random = options.random ?? Math.random;
    if (!(this.baseMs >= 0 && this.maxMs >= this.baseMs && Number.isFinite(this.maxMs))) {
      throw new InvalidArgumentError(
        `Invalid backoff: baseMs ${this.baseMs}, maxMs ${this.maxMs} (need 0 <= baseMs <= maxMs)`,
      );
    }
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The ceiling of the next delay. */
  get ceilingMs(): number {
    const exp = Math.min(this.#failures, 40);
    return Math.min(this.maxMs, this.baseMs * 2 ** exp);
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  next(): number {
    const ceiling = this.ceilingMs;
    this.#failures++;
    return Math.round(this.baseMs + this.#random() * (ceiling - this.baseMs));
  }

  /** Back to the first delay (after a healthy session). */
  reset(): void {
    this.#failures = 0;
  }
}
