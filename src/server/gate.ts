/**
 * The exclusive gate that keeps a transaction from being interleaved: while one client holds
 * it, no other client's command starts, and the holder starts only once every asynchronous
 * command already running (KEYS, SCAN, FLUSHDB, SAVE...) has finished. Synchronous commands need
 * no bookkeeping: nothing else runs while they do. ARCHITECTURE.md § "Transactions (MULTI/EXEC)".
 *
 * Invariants:
 * - At most one holder; `running` counts asynchronous commands started outside the holder.
 * - `waitFor` and `acquire` answer `undefined` (no await, no tick) when nothing is in the way,
 *   so a transaction of synchronous commands runs in one synchronous stretch.
 *
 * @module
 */

import { assert } from "../util/assert.ts";

/** Anything identifying a holder (the server uses its `Client`). */
export type GateOwner = object;

/** A mutual-exclusion gate between transactions and everything else. */
export class ExclusiveGate {
  #holder: GateOwner | undefined;
  #released: Promise<void> = Promise.resolve();
  #release: () => void = () => {};
  #running = 0;
  #drained: (() => void) | undefined;

  /** The current holder, if any. */
  get holder(): GateOwner | undefined {
    return this.#holder;
  }

  /** Asynchronous commands running outside the holder. */
  get running(): number {
    return this.#running;
  }

  /** A promise to await before `owner` may start a command, or `undefined` to go ahead. */
  waitFor(owner: GateOwner): Promise<void> | undefined {
    if (this.#holder === undefined || this.#holder === owner) return undefined;
    return this.#released;
  }

  /** Counts an asynchronous command that started; pair with `end()`. */
  begin(): void {
    this.#running++;
  }

  /** An asynchronous command counted by `begin()` finished. */
  end(): void {
    assert(this.#running > 0, "gate end() without begin()");
    this.#running--;
    if (this.#running === 0 && this.#drained !== undefined) {
      const wake = this.#drained;
      this.#drained = undefined;
      wake();
    }
  }

  /**
   * Makes `owner` the holder; resolves once no asynchronous command of others runs. Returns
   * `undefined` when that is already the case (the caller holds the gate at once).
   */
  acquire(owner: GateOwner): Promise<void> | undefined {
    if (this.#holder === undefined && this.#running === 0) {
      this.#take(owner);
      return undefined;
    }
    return (async () => {
      while (this.#holder !== undefined && this.#holder !== owner) await this.#released;
      this.#take(owner);
      while (this.#running > 0) {
        await new Promise<void>((resolve) => this.#drained = resolve);
      }
    })();
  }

  #take(owner: GateOwner): void {
    this.#holder = owner;
    this.#released = new Promise((resolve) => this.#release = resolve);
  }

  /** Gives the gate up; whoever waits may go on. */
  release(owner: GateOwner): void {
    assert(this.#holder === owner, "gate released by its holder");
    this.#holder = undefined;
    this.#release();
  }
}
