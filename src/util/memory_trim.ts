/**
 * Handing freed native memory back to the operating system, for long-running servers.
 * ARCHITECTURE.md § "Memory".
 *
 * Deno allocates the backing stores of `ArrayBuffer`s (memtable chunks, decoded blocks, WAL
 * and socket buffers) with the C library's `malloc`. When the garbage collector frees them,
 * glibc keeps the pages in its arenas, so the RSS stays at its peak: measured here, a server
 * that took 1,000,000 SETs held 158 MiB, and 111 MiB after one `malloc_trim(0)` (39 ms).
 * So a server asks glibc (`mallinfo2`, through FFI) every `MEMORY_TRIM_CHECK_MS` how many
 * free bytes its arenas hold, and calls `malloc_trim(0)` when that grew by
 * `MEMORY_TRIM_GROWTH_BYTES` since the last trim (or since the least it was: free chunks
 * reused and freed again are resident again); the threshold halves with every check that did
 * not trim, down to `MEMORY_TRIM_GROWTH_BYTES_MIN`. It also fixes glibc's mmap threshold at
 * 128 KiB, so that large buffers (memtable chunks, node arrays) are mapped on their own and
 * returned when freed. It binds glibc only once the RSS grew `MEMORY_TRIM_ARM_BYTES` past the
 * RSS at start: an idle server does not pay FFI's ~2 MiB for nothing to trim.
 *
 * Where there is no glibc 2.33+ (macOS, Windows, musl) or no FFI permission, the trimmer does
 * nothing: freed memory is still reused by later allocations, only not returned.
 *
 * @module
 */

import {
  MEMORY_TRIM_ARM_BYTES,
  MEMORY_TRIM_CHECK_MS,
  MEMORY_TRIM_GROWTH_BYTES,
  MEMORY_TRIM_GROWTH_BYTES_MIN,
} from "../limits.ts";
import type { Logger } from "./log.ts";

/** glibc's calls, bound. */
interface Glibc {
  /** Free bytes in all malloc arenas (`mallinfo2().fordblks`). */
  freeBytes(): number;
  /** `malloc_trim(0)`. */
  trim(): void;
  /** `mallopt(param, value)`; false when glibc refused. */
  mallopt(param: number, value: number): boolean;
}

/** `mallopt`'s parameter for the size from which `malloc` maps blocks of their own. */
const M_MMAP_THRESHOLD = -3;
/** glibc's default (and least adaptive) mmap threshold. */
const MMAP_THRESHOLD_BYTES = 128 * 1024;

/** `struct mallinfo2`: ten `size_t` fields; `fordblks` (free bytes) is the ninth. */
const MALLINFO2_FIELDS = 10;
const MALLINFO2_FORDBLKS = 8;

let glibc: Glibc | null | undefined;

/** glibc's `mallinfo2` and `malloc_trim`, or `null` where they cannot be called. */
function loadGlibc(): Glibc | null {
  if (glibc !== undefined) return glibc;
  glibc = null;
  if (Deno.build.os !== "linux") return glibc;
  try {
    // Never prompt: a server started without --allow-ffi just does not trim.
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return glibc;
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
      mallinfo2: {
        parameters: [],
        result: { struct: new Array<"usize">(MALLINFO2_FIELDS).fill("usize") },
      },
    });
    glibc = {
      freeBytes: () => {
        const info = lib.symbols.mallinfo2() as Uint8Array;
        return Number(new DataView(info.buffer, info.byteOffset).getBigUint64(
          MALLINFO2_FORDBLKS * 8,
          true,
        ));
      },
      trim: () => void lib.symbols.malloc_trim(0n),
      mallopt: (param, value) => lib.symbols.mallopt(param, value) === 1,
    };
  } catch {
    // No glibc 2.33+ (musl, older glibc), no FFI permission, or no FFI: nothing to trim with.
  }
  return glibc;
}

/** The options of V8's `gc` (exposed by `--expose-gc`) this module uses. */
type ExposedGc = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * Shrinks V8's heap to what is live, once, when a server has started (before it listens):
 * loading the modules grows the young generation to its largest semi-spaces (4 MiB with the
 * flags of `deno task start`) and leaves the old generation's pages half used, and an idle
 * server never collects again to give them back. A "last-resort" full collection is the only
 * one that shrinks both; measured, 3.8 MiB less anonymous memory for ~1.3 MiB of the
 * executable's collector code paged in, in 80-120 ms, once (ARCHITECTURE.md § "Memory"). Only
 * when V8 exposes `gc` (`--expose-gc`: `deno task start` and the compiled binaries); returns
 * whether it ran.
 */
export function shrinkHeapOnce(): boolean {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  if (gc === undefined) return false;
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return true;
}

/**
 * Returns the C heap's free pages to the operating system now. False when this platform
 * cannot (nothing done).
 */
export function trimFreedMemory(): boolean {
  const lib = loadGlibc();
  if (lib === null) return false;
  lib.trim();
  return true;
}

/** A running trimmer; `stop` ends its timer. */
export interface MemoryTrimmer {
  /** Stops checking. */
  stop(): void;
}

/** Options of `startMemoryTrimmer`, the defaults from `src/limits.ts`. */
export interface MemoryTrimmerOptions {
  /** Period of the check. */
  checkMs?: number;
  /** Growth of the free bytes since the last trim that triggers a trim. */
  growthBytes?: number;
  /** RSS growth over the RSS at start after which the trimmer binds glibc and starts. */
  armBytes?: number;
  /**
   * The RSS "at start" (default: now). A server passes its RSS from before it opened its data:
   * an open that replayed a long log (tens of MB of WAL read, heads decoded) leaves that much
   * freed memory in glibc's arenas, which the first check then trims at once.
   */
  startRss?: number;
  /** Where a trim is logged (debug level: RSS before and after, duration). */
  logger?: Logger;
}

/**
 * Checks the C heap's free bytes periodically and trims after they grew (see the module
 * comment), from when the RSS first grew `armBytes` past what it is now. The timer does not
 * keep the process alive.
 */
export function startMemoryTrimmer(options: MemoryTrimmerOptions = {}): MemoryTrimmer {
  if (Deno.build.os !== "linux") return { stop() {} };
  const armAt = (options.startRss ?? Deno.memoryUsage().rss) +
    (options.armBytes ?? MEMORY_TRIM_ARM_BYTES);
  const growthBytes = options.growthBytes ?? MEMORY_TRIM_GROWTH_BYTES;
  let lib: Glibc | null | undefined;
  let least = 0;
  let checksSinceTrim = 0;
  const check = () => {
    if (lib === undefined) {
      if (Deno.memoryUsage().rss < armAt) return;
      lib = loadGlibc();
      if (lib === null) {
        clearInterval(timer);
        return;
      }
      // A fixed threshold: glibc's adaptive one rises to the size of the last mmap'ed block
      // freed (a 1 MiB memtable chunk), after which such blocks come from, and stay in, the
      // arenas. Set once the server grows: until then few large blocks were freed.
      lib.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
      // Nothing was measured before: every free byte counts as grown (`least` stays 0).
    }
    const glibc = lib;
    if (glibc === null) return;
    const free = glibc.freeBytes();
    if (free < least) least = free;
    // The threshold halves with every check that did not trim, so that a server that went
    // quiet returns even a few MiB within seconds, while a busy one trims only every 16 MiB.
    const threshold = Math.max(MEMORY_TRIM_GROWTH_BYTES_MIN, growthBytes / 2 ** checksSinceTrim);
    if (free - least < threshold) {
      checksSinceTrim++;
      return;
    }
    checksSinceTrim = 0;
    const rss = Deno.memoryUsage().rss;
    const t0 = performance.now();
    glibc.trim();
    // Trimmed pages stay free chunks (only no longer resident): they count from here.
    least = glibc.freeBytes();
    options.logger?.("debug", "trimmed freed memory", {
      free_bytes: free,
      rss_before_bytes: rss,
      rss_after_bytes: Deno.memoryUsage().rss,
      duration_ms: Math.round((performance.now() - t0) * 10) / 10,
    });
  };
  const timer = setInterval(check, options.checkMs ?? MEMORY_TRIM_CHECK_MS);
  Deno.unrefTimer(timer);
  // Once now: a server that grew while it opened its data trims before its first client.
  check();
  return { stop: () => clearInterval(timer) };
}
