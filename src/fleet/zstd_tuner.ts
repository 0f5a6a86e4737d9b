/**
 * How hard an edge compresses RECORDS frames, and how big it makes them
 * (ARCHITECTURE.md § "Rate limit and windows"). Without a rate limit the link is rarely the
 * bottleneck: zstd level 3, frames as large as the hub asks. Under `--uplink-rate-limit` every
 * byte saved is link time saved, so the edge spends CPU where it has it to spare:
 *
 * - it measures, per level, the compression speed (raw bytes per second) and the ratio (wire
 *   bytes per raw byte) of the frames it sends;
 * - it raises the level while compressing stays at least 4× faster than the link drains the
 *   result, and lowers it when that falls below 2× (levels 3, 5, … 19);
 * - a frame holds about `UPLINK_FRAME_TARGET_MS` of link time, and never more raw bytes than
 *   `UPLINK_COMPRESS_MS_MAX` of compression: zstd runs on the event loop, which must keep
 *   serving the edge's own clients.
 *
 * @module
 */

import {
  UPLINK_COMPRESS_MS_MAX,
  UPLINK_FRAME_BYTES_MIN,
  UPLINK_FRAME_TARGET_MS,
  UPLINK_ZSTD_LEVEL,
  UPLINK_ZSTD_LEVEL_MAX,
} from "../limits.ts";

interface LevelStats {
  /** Raw bytes compressed per millisecond (moving average). */
  rawPerMs: number;
  /** Wire bytes per raw byte (moving average). */
  ratio: number;
}

/** Moving-average weight of the newest frame. */
const EWMA = 0.3;

/** Chooses the zstd level and the raw size of the next RECORDS frame. */
export class ZstdTuner {
  readonly #rateBytesPerSec: number | undefined;
  readonly #stats = new Map<number, LevelStats>();
  #level = UPLINK_ZSTD_LEVEL;

  /** A tuner for a link of `rateBytesPerSec` (undefined = no limit: level 3 always). */
  constructor(rateBytesPerSec: number | undefined) {
    this.#rateBytesPerSec = rateBytesPerSec;
  }

  /** The level the next frame is compressed at. */
  get level(): number {
    return this.#level;
  }

  /** Raw record bytes for the next frame, given what the hub asked for. */
  budget(askedBytes: number): number {
    const rate = this.#rateBytesPerSec;
    if (rate === undefined) return askedBytes;
    const s = this.#stats.get(this.#level) ?? { rawPerMs: 20_000, ratio: 0.3 };
    const forLink = (rate * UPLINK_FRAME_TARGET_MS) / 1000 / s.ratio;
    const forCpu = s.rawPerMs * UPLINK_COMPRESS_MS_MAX;
    return Math.max(UPLINK_FRAME_BYTES_MIN, Math.floor(Math.min(askedBytes, forLink, forCpu)));
  }

  /** A frame of `rawBytes` took `ms` to compress to `wireBytes` at `level`. */
  observe(level: number, rawBytes: number, wireBytes: number, ms: number): void {
    const rate = this.#rateBytesPerSec;
    if (rate === undefined || rawBytes < UPLINK_FRAME_BYTES_MIN) return;
    const sample = { rawPerMs: rawBytes / Math.max(0.05, ms), ratio: wireBytes / rawBytes };
    const old = this.#stats.get(level);
    const s = old === undefined ? sample : {
      rawPerMs: old.rawPerMs + EWMA * (sample.rawPerMs - old.rawPerMs),
      ratio: old.ratio + EWMA * (sample.ratio - old.ratio),
    };
    this.#stats.set(level, s);
    if (level !== this.#level) return;
    // How much faster compressing is than the link drains its output.
    const headroom = (s.rawPerMs * 1000 * s.ratio) / rate;
    if (headroom > 4 && this.#level < UPLINK_ZSTD_LEVEL_MAX) this.#level += 2;
    else if (headroom < 2 && this.#level > UPLINK_ZSTD_LEVEL) this.#level -= 2;
  }
}
