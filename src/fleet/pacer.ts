/**
 * Bandwidth rules of an uplink (ARCHITECTURE.md § "Rate limit and windows"):
 *
 * - `--uplink-rate-limit 64KiB`: a token bucket on the bytes the edge writes to the link,
 *   after compression, headers included. Writes go out in slices no larger than the bucket,
 *   so a heartbeat waits behind at most one slice, not behind a whole frame.
 * - `--uplink-window 01:00-03:00[,13:00-13:30]`: local-time ranges in which the edge may
 *   sync; outside them it does not dial, and a link open when a window ends is closed.
 *   A range may wrap midnight (`22:00-02:00`); `00:00-24:00` is always.
 *
 * Time comes from an `UplinkClock`, so tests move it by hand.
 *
 * @module
 */

import { UPLINK_RATE_LIMIT_BYTES_MIN, UPLINK_WINDOWS_MAX } from "../limits.ts";

/** Where an uplink reads the time. */
export interface UplinkClock {
  /** Unix milliseconds now. */
  nowMs(): number;
  /** Minutes since local midnight at Unix time `ms` (0 … 1439). */
  localMinuteOfDay(ms: number): number;
}

/** The system clock and the process's time zone (TZ). */
export const systemClock: UplinkClock = {
  nowMs: () => Date.now(),
  localMinuteOfDay: (ms) => {
    const d = new Date(ms);
    return d.getHours() * 60 + d.getMinutes();
  },
};

/** One window: `[startMin, endMin)` minutes of the local day; wraps midnight when end ≤ start. */
export interface SyncWindow {
  startMin: number;
  endMin: number;
}

const MINUTES_PER_DAY = 1440;

function parseClockTime(text: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (m === null) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/**
 * Parses `HH:MM-HH:MM[,HH:MM-HH:MM…]`; throws `Error` with a message naming the bad part.
 */
export function parseWindows(text: string): SyncWindow[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length > UPLINK_WINDOWS_MAX) {
    throw new Error(`${parts.length} windows (at most ${UPLINK_WINDOWS_MAX})`);
  }
  return parts.map((part) => {
    const [from, to, ...rest] = part.split("-");
    const startMin = from === undefined ? undefined : parseClockTime(from);
    const endMin = to === undefined ? undefined : parseClockTime(to);
    if (startMin === undefined || endMin === undefined || rest.length > 0) {
      throw new Error(`bad window ${JSON.stringify(part)}: use HH:MM-HH:MM (local time)`);
    }
    if (startMin === endMin) throw new Error(`empty window ${JSON.stringify(part)}`);
    return {
      startMin: startMin % MINUTES_PER_DAY,
      endMin: endMin === 0 ? MINUTES_PER_DAY : endMin,
    };
  });
}

/** `01:00-03:00,13:00-13:30` again. */
export function formatWindows(windows: readonly SyncWindow[]): string {
  const t = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  return windows.map((w) => `${t(w.startMin)}-${t(w.endMin)}`).join(",");
}

function inside(w: SyncWindow, minute: number): boolean {
  return w.startMin < w.endMin
    ? minute >= w.startMin && minute < w.endMin
    : minute >= w.startMin || minute < w.endMin;
}

/**
 * Whether syncing is allowed now, and in how many ms that changes (Infinity when never: no
 * windows means always).
 */
export function windowState(
  windows: readonly SyncWindow[],
  clock: UplinkClock,
): { open: boolean; changeInMs: number } {
  if (windows.length === 0) return { open: true, changeInMs: Infinity };
  const now = clock.nowMs();
  const minute = clock.localMinuteOfDay(now);
  const open = windows.some((w) => inside(w, minute));
  // The state can only change at a minute boundary: find the next minute where it differs.
  const intoMinuteMs = ((now % 60_000) + 60_000) % 60_000;
  for (let ahead = 1; ahead <= MINUTES_PER_DAY; ahead++) {
    const m = (minute + ahead) % MINUTES_PER_DAY;
    if (windows.some((w) => inside(w, m)) !== open) {
      return { open, changeInMs: ahead * 60_000 - intoMinuteMs };
    }
  }
  return { open, changeInMs: Infinity };
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `64KiB`, `128k`, `1MB`, `65536` (bytes); throws `Error` naming the problem. */
export function parseByteSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) {
    throw new Error(`bad size ${JSON.stringify(text)}: use bytes or a unit (64KiB, 128k, 1MB)`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** Bytes per second through a token bucket; `take` waits until the bytes may go. */
export class RateLimiter {
  /** Bytes per second. */
  readonly bytesPerSec: number;
  /** Largest slice a writer should take at once (the bucket's size). */
  readonly sliceBytes: number;
  #tokens: number;
  #lastMs: number;
  readonly #now: () => number;

  constructor(bytesPerSec: number, now: () => number = () => performance.now()) {
    if (!(bytesPerSec >= UPLINK_RATE_LIMIT_BYTES_MIN)) {
      throw new RangeError(`rate limit ${bytesPerSec} below ${UPLINK_RATE_LIMIT_BYTES_MIN}`);
    }
    this.bytesPerSec = bytesPerSec;
    // A tenth of a second of traffic, at least 1 KiB and at most 16 KiB: fine-grained pacing
    // without a timer per byte.
    this.sliceBytes = Math.max(1024, Math.min(16 * 1024, Math.floor(bytesPerSec / 10)));
    this.#tokens = this.sliceBytes;
    this.#now = now;
    this.#lastMs = now();
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(
      this.sliceBytes,
      this.#tokens + ((now - this.#lastMs) * this.bytesPerSec) / 1000,
    );
    this.#lastMs = now;
  }

  /** Resolves once `bytes` may be written (a slice at a time), and takes them. */
  async take(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, this.sliceBytes);
      this.#refill();
      // Bounded: each pass sleeps until the deficit is refilled.
      while (this.#tokens < n) {
        const waitMs = Math.ceil(((n - this.#tokens) * 1000) / this.bytesPerSec);
        await new Promise((r) => setTimeout(r, Math.max(1, waitMs)));
        this.#refill();
      }
      this.#tokens -= n;
      left -= n;
    }
  }
}
