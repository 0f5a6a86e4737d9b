/**
 * The global in-flight body budget: request body bytes every HTTP request together may hold.
 * A request takes budget before it reads body bytes (all of a `Content-Length` at once, a chunked
 * body piece by piece) and gives it back when its response is written or its connection dies.
 * A request that cannot get budget waits up to a deadline, then is refused (503 + Retry-After).
 * ARCHITECTURE.md § "HTTP API" (Limits) explains the choice.
 *
 * Invariants:
 * - `inUse` never exceeds `capacity`, and it never goes below 0.
 * - First fit: waiters are woken in arrival order, but one that does not fit does not block a
 *   later, smaller one, so small requests are not held up behind a large one.
 *
 * @module
 */

import { assert } from "../util/assert.ts";

interface Waiter {
  bytes: number;
  resolve(ok: boolean): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A counting budget of bytes with bounded waiting. */
export class BodyBudget {
  /** Total bytes. */
  readonly capacity: number;
  #inUse = 0;
  #waiters: Waiter[] = [];
  /** Requests refused because the budget stayed full. */
  refusals = 0;

  /** A budget of `capacity` bytes. */
  constructor(capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity >= 0, "budget capacity");
    this.capacity = capacity;
  }

  /** Bytes taken now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Takes `bytes` at once when they fit; false otherwise (and nothing is taken). */
  tryAcquire(bytes: number): boolean {
    assert(bytes >= 0, "budget acquire >= 0");
    if (this.#inUse + bytes > this.capacity) return false;
    this.#inUse += bytes;
    return true;
  }

  /**
   * Takes `bytes`, waiting up to `waitMs` for other requests to give budget back. Resolves
   * false (nothing taken) when the wait ends first or `bytes` exceeds the whole budget.
   */
  acquire(bytes: number, waitMs: number): Promise<boolean> {
    if (bytes > this.capacity) {
      this.refusals++;
      return Promise.resolve(false);
    }
    if (this.tryAcquire(bytes)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          this.refusals++;
          resolve(false);
        }, waitMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Gives `bytes` back and wakes the waiters that now fit. */
  release(bytes: number): void {
    assert(bytes >= 0 && bytes <= this.#inUse, "budget release within use");
    this.#inUse -= bytes;
    this.#wake();
  }

  #wake(): void {
    for (let i = 0; i < this.#waiters.length;) {
      const w = this.#waiters[i]!;
      if (this.#inUse + w.bytes <= this.capacity) {
        this.#inUse += w.bytes;
        this.#waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(true);
      } else {
        i++;
      }
    }
  }
}
