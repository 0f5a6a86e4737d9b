/**
 * zstd frames from a peer are walked before they are decompressed: what `zstdCompress` makes
 * round-trips; trailing bytes, a second frame, a lying content size, a frame without its
 * checksum or with a dictionary, truncation and a decompression bomb are refused with a
 * `CorruptionError` naming the offset, without allocating more than the declared size.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import * as zlib from "node:zlib";
import { CorruptionError } from "../../src/errors.ts";
import { validateZstd, zstdCompress, zstdUncompress } from "../../src/util/zstd.ts";
import { Rng } from "../_helpers/random.ts";

const rng = new Rng(0x2575d);

Deno.test("zstd: every size round-trips, incompressible input included", () => {
  for (const n of [0, 1, 63, 255, 256, 65_791, 65_792, 200_000, 1 << 20]) {
    const raw = n % 2 === 0 ? new Uint8Array(n).map((_, i) => i % 7) : rng.bytes(n);
    const z = zstdCompress(raw, 3);
    const check = validateZstd(z, n);
    assert(check.ok, `${n}: ${JSON.stringify(check)}`);
    assertEquals(zstdUncompress(z, n), raw);
  }
});

Deno.test("zstd: frames larger than the window (not single-segment) round-trip at every level used", () => {
  const raw = new Uint8Array(9 << 20).map((_, i) => (i * 31) >> 9);
  for (const level of [3, 9]) {
    const z = zstdCompress(raw, level);
    assertEquals(zstdUncompress(z, raw.length), raw, `level ${level}`);
  }
});

Deno.test("zstd: a frame over the caller's limit is refused before decoding", () => {
  const z = zstdCompress(new Uint8Array(10_000), 3);
  assertThrows(() => zstdUncompress(z, 9_999), CorruptionError, "over the limit 9999");
});

Deno.test("zstd: trailing bytes, a second frame, truncation and a bad magic are refused", () => {
  const z = zstdCompress(new Uint8Array(5000).fill(7), 3);
  const twice = new Uint8Array(2 * z.length);
  twice.set(z);
  twice.set(z, z.length);
  assertThrows(() => zstdUncompress(twice, 1 << 20), CorruptionError, "after the zstd frame");
  const trailing = new Uint8Array(z.length + 1);
  trailing.set(z);
  assertThrows(() => zstdUncompress(trailing, 1 << 20), CorruptionError, "1 bytes after");
  for (let cut = 0; cut < z.length; cut += 3) {
    assertThrows(() => zstdUncompress(z.subarray(0, cut), 1 << 20), CorruptionError);
  }
  const magic = z.slice();
  magic[0] = 0;
  assertThrows(() => zstdUncompress(magic, 1 << 20), CorruptionError, "bad zstd magic");
});

Deno.test("zstd: frames zstdCompress never makes are refused (no checksum, streaming size, dictionary)", () => {
  const C = zlib.constants;
  const raw = new Uint8Array(3000).fill(1);
  // node:zlib's default: no content size in the frame, so its output size is unbounded.
  const streaming = new Uint8Array(zlib.zstdCompressSync(raw));
  assertThrows(() => zstdUncompress(streaming, 1 << 20), CorruptionError, "descriptor");
  const noChecksum = new Uint8Array(zlib.zstdCompressSync(raw, {
    pledgedSrcSize: raw.length,
    params: { [C.ZSTD_c_checksumFlag]: 0 },
  } as zlib.ZstdOptions));
  assertThrows(() => zstdUncompress(noChecksum, 1 << 20), CorruptionError, "descriptor");
});

Deno.test("zstd: a content size that lies, or a corrupted body, fails the decode without a big allocation", () => {
  const raw = new Uint8Array(100_000).map((_, i) => i & 0xff);
  const z = zstdCompress(raw, 3);
  for (let i = 0; i < 200; i++) {
    const bad = z.slice();
    const at = 5 + rng.int(bad.length - 5);
    bad[at] = bad[at]! ^ (1 + rng.int(255));
    try {
      const out = zstdUncompress(bad, 200_000);
      // The checksum would have caught a changed byte; an unchanged decode is impossible.
      assertEquals(out.length, raw.length);
      assert(false, `corruption at ${at} decoded`);
    } catch (err) {
      assert(err instanceof CorruptionError, String(err));
    }
  }
});

Deno.test("zstd: a decompression bomb stops at its declared size", () => {
  const bomb = zstdCompress(new Uint8Array(64 << 20), 3);
  assert(bomb.length < 10_000);
  assertThrows(() => zstdUncompress(bomb, 1 << 20), CorruptionError, "over the limit");
});

/** Files that may call node:zlib's zstd: the wrapper, and selftest on its own bytes. */
const OWN_INPUT_ONLY = ["src/util/zstd.ts", "src/cli/selftest.ts"];

Deno.test("zstd: only src/util/zstd.ts calls node:zlib's zstd (every frame from a peer is walked first)", async () => {
  const offenders: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (path.endsWith(".ts") && !OWN_INPUT_ONLY.some((f) => path.endsWith(f))) {
        if (/\bzstd(De)?[cC]ompressSync\s*\(/.test(await Deno.readTextFile(path))) {
          offenders.push(path);
        }
      }
    }
  };
  await walk(new URL("../../src", import.meta.url).pathname);
  assertEquals(offenders, []);
});
