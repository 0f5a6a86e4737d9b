/**
 * Finds keys whose time to live ran out, for `expired` keyspace events and INFO's `expired_keys`.
 * ARCHITECTURE.md § "Keyspace notifications" (Expiry events).
 *
 * The engine expires lazily: an expired entry is invisible to reads and dropped by compaction,
 * and nothing announces it. While `expired` events are on, the server keeps the keys with a
 * time to live it knows of in a min-heap by expiry time (at most `EXPIRY_TRACKED_KEYS_MAX`):
 * every write through RESP is observed, and a background sweep reads
 * `EXPIRY_SWEEP_KEYS_PER_TICK` keys per cron tick to find keys given a TTL elsewhere (HTTP API,
 * before a restart). When a tracked time passes -- checked every cron tick and before every
 * batch of commands, so a read of the key sees the event first, as with Redis's lazy expiry --
 * and the key is gone, `expired` is published.
 *
 * Invariants:
 * - `#due` maps a tracked key's id to its expiry; heap items whose time differs are stale and
 *   skipped when popped.
 * - At most `EXPIRY_TRACKED_KEYS_MAX` keys are tracked; past it new ones wait for the sweep.
 *
 * @module
 */

import type { Database, WriteOp } from "../mod.ts";
import { EXPIRY_SWEEP_KEYS_PER_TICK, EXPIRY_TRACKED_KEYS_MAX } from "../limits.ts";
import { toBytes } from "../util/bytes.ts";
import { keyId } from "./txn_overlay.ts";
import { isInternalKey, USER_KEYS_END } from "../keyspace/mod.ts";

/** What the tracker reads. */
export interface ExpiryTrackerHost {
  /** The database (live entries only). */
  readonly db: Database;
}

interface Item {
  at: number;
  id: string;
  key: Uint8Array;
}

/** Pause between two complete sweeps of the keyspace. */
const SWEEP_PAUSE_MS = 1000;

/** A bounded min-heap of keys by expiry time. */
export class ExpiryTracker {
  readonly #host: ExpiryTrackerHost;
  readonly #onExpired: (key: Uint8Array) => void;
  readonly #heap: Item[] = [];
  readonly #due = new Map<string, number>();
  #enabled = false;
  #sweepAfter: Uint8Array | null = null;
  #sweeping = false;
  #nextSweepMs = 0;
  /** Keys found expired since start (INFO `expired_keys`). */
  expiredKeys = 0;

  /** A tracker calling `onExpired` for each key found expired. */
  constructor(host: ExpiryTrackerHost, onExpired: (key: Uint8Array) => void) {
    this.#host = host;
    this.#onExpired = onExpired;
  }

  /** On while `expired` events are published; turning it off forgets every key. */
  get enabled(): boolean {
    return this.#enabled;
  }

  set enabled(on: boolean) {
    if (on === this.#enabled) return;
    this.#enabled = on;
    this.#heap.length = 0;
    this.#due.clear();
    this.#sweepAfter = null;
    this.#nextSweepMs = 0;
  }

  /** Forgets every tracked key (FLUSHDB deleted them all). */
  forgetAll(): void {
    this.#heap.length = 0;
    this.#due.clear();
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#due.size;
  }

  /** Records the expiries a batch sets or clears. */
  observe(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      // Log ops and a series' internal data (`0xFF ...`) carry no time to live of a key.
      if (op.type === "log") continue;
      const key = toBytes(op.key);
      if (isInternalKey(key)) continue;
      // A string (`put`) or another type's metadata (`meta`, a time series) at its user key.
      const at = op.type === "delete" ? 0 : op.expireAtMs ?? 0;
      if (at > 0) this.#track(key, at);
      else if (this.#due.size > 0) this.#due.delete(keyId(key));
    }
  }

  #track(key: Uint8Array, at: number): void {
    const id = keyId(key);
    if (this.#due.get(id) === at) return;
    if (!this.#due.has(id) && this.#due.size >= EXPIRY_TRACKED_KEYS_MAX) return;
    this.#due.set(id, at);
    this.#push({ at, id, key });
    // Stale items pile up when keys are re-expired often: rebuild once they dominate.
    if (this.#heap.length > 2 * EXPIRY_TRACKED_KEYS_MAX) this.#rebuild();
  }

  /** True when a tracked key may have expired by `nowMs`. */
  due(nowMs: number): boolean {
    return this.#heap.length > 0 && this.#heap[0]!.at <= nowMs;
  }

  /** Publishes `expired` for every tracked key whose time passed and that is gone now. */
  expireDue(nowMs: number): void {
    const db = this.#host.db;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= nowMs) {
      const item = this.#pop()!;
      if (this.#due.get(item.id) !== item.at) continue;
      this.#due.delete(item.id);
      const e = db.getEntry(item.key);
      if (e === undefined) {
        this.expiredKeys++;
        this.#onExpired(item.key);
      } else if (e.expireAtMs > 0) this.#track(item.key, e.expireAtMs);
    }
  }

  /** One cron tick: expire what is due, then sweep a slice of the keyspace. */
  async tick(nowMs: number): Promise<void> {
    if (!this.#enabled) return;
    this.expireDue(nowMs);
    if (this.#sweeping || nowMs < this.#nextSweepMs) return;
    this.#sweeping = true;
    try {
      await this.#sweep();
    } finally {
      this.#sweeping = false;
    }
  }

  async #sweep(): Promise<void> {
    const db = this.#host.db;
    // User keys only: internal data (`0xFF ...`) has no time to live of its own.
    const range: { start?: Uint8Array; end: Uint8Array } = { end: USER_KEYS_END };
    if (this.#sweepAfter !== null) {
      const next = new Uint8Array(this.#sweepAfter.length + 1);
      next.set(this.#sweepAfter);
      range.start = next;
    }
    let n = 0;
    let last: Uint8Array | null = null;
    for await (const [key] of db.scan(range, { limit: EXPIRY_SWEEP_KEYS_PER_TICK })) {
      if (!this.#enabled) return;
      n++;
      last = key;
      const e = db.getEntry(key);
      if (e !== undefined && e.expireAtMs > 0) this.#track(key, e.expireAtMs);
    }
    if (n < EXPIRY_SWEEP_KEYS_PER_TICK) {
      this.#sweepAfter = null;
      this.#nextSweepMs = Date.now() + SWEEP_PAUSE_MS;
    } else this.#sweepAfter = last;
  }

  #push(item: Item): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= item.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
  }

  #pop(): Item | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }

  #rebuild(): void {
    const live = this.#heap.filter((item) => this.#due.get(item.id) === item.at);
    this.#heap.length = 0;
    for (const item of live) this.#push(item);
  }
}
