/**
 * The uplink's bandwidth rules in isolation: window parsing and the open/close schedule on an
 * injected clock (midnight wraps included), sizes with units, and the token bucket.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  formatWindows,
  parseByteSize,
  parseWindows,
  RateLimiter,
  type UplinkClock,
  windowState,
} from "../../src/fleet/pacer.ts";

/** A clock standing still at `hh:mm:ss` (UTC day 0). */
function at(hhmmss: string): UplinkClock {
  const [h, m, s] = hhmmss.split(":").map(Number) as [number, number, number];
  const ms = ((h * 60 + m) * 60 + s) * 1000;
  return { nowMs: () => ms, localMinuteOfDay: (t) => Math.floor(t / 60_000) % 1440 };
}

Deno.test("pacer: windows parse, format back, and refuse bad input naming it", () => {
  const w = parseWindows("01:00-03:00,13:00-13:30");
  assertEquals(w, [{ startMin: 60, endMin: 180 }, { startMin: 780, endMin: 810 }]);
  assertEquals(formatWindows(w), "01:00-03:00,13:00-13:30");
  assertEquals(parseWindows("22:00-02:00"), [{ startMin: 1320, endMin: 120 }]);
  assertEquals(parseWindows("00:00-24:00"), [{ startMin: 0, endMin: 1440 }]);
  for (const bad of ["1-3", "25:00-26:00", "01:00", "01:00-01:00", "01:60-02:00", "a-b"]) {
    assertThrows(() => parseWindows(bad), Error, "window");
  }
});

Deno.test("pacer: the window schedule opens and closes at minute boundaries, across midnight", () => {
  const w = parseWindows("01:00-03:00,13:00-13:30");
  assertEquals(windowState(w, at("00:59:30")), { open: false, changeInMs: 30_000 });
  assertEquals(windowState(w, at("01:00:00")), { open: true, changeInMs: 2 * 3600_000 });
  assertEquals(windowState(w, at("02:59:59")), { open: true, changeInMs: 1000 });
  assertEquals(windowState(w, at("03:00:00")), { open: false, changeInMs: 10 * 3600_000 });
  assertEquals(windowState(w, at("13:29:00")).open, true);
  // After the last window of the day, the next is tomorrow at 01:00.
  assertEquals(windowState(w, at("14:00:00")), { open: false, changeInMs: 11 * 3600_000 });
  const night = parseWindows("22:00-02:00");
  assertEquals(windowState(night, at("23:00:00")), { open: true, changeInMs: 3 * 3600_000 });
  assertEquals(windowState(night, at("01:59:00")).open, true);
  assertEquals(windowState(night, at("02:00:00")).open, false);
  assertEquals(windowState([], at("12:00:00")), { open: true, changeInMs: Infinity });
});

Deno.test("pacer: sizes take units", () => {
  assertEquals(parseByteSize("64KiB"), 65536);
  assertEquals(parseByteSize("128k"), 128_000);
  assertEquals(parseByteSize("1MB"), 1_000_000);
  assertEquals(parseByteSize("1.5MiB"), 1_572_864);
  assertEquals(parseByteSize("65536"), 65536);
  assertThrows(() => parseByteSize("fast"), Error, "bad size");
  assertThrows(() => parseByteSize("10 parsecs"), Error, "bad size");
});

Deno.test("pacer: the token bucket never lets more than bytesPerSec through (plus one slice)", async () => {
  const limiter = new RateLimiter(100_000);
  assertEquals(limiter.sliceBytes, 10_000);
  const started = performance.now();
  for (let i = 0; i < 10; i++) await limiter.take(3_000);
  // 30,000 bytes at 100,000 B/s, the first 10,000 from the full bucket: at least 0.2 s. A
  // lower bound only: a busy machine may make it slower, never faster.
  assert(performance.now() - started >= 190, `${performance.now() - started} ms`);
  assertThrows(() => new RateLimiter(100), RangeError);
});
