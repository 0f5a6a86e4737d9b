/**
 * The Snappy validator (`src/util/snappy.ts`): every tag type, truncations, offsets before the
 * start, lengths past the declared size, the 18-byte replication packet that froze the leader,
 * and a seeded fuzz of random and mutated streams asserting that a stream the validator accepts
 * decodes to exactly its declared length (the same bytes as a strict reference decoder) and
 * that no input hangs the decoder (decompression runs in a worker under a deadline); and
 * round trips with SnappyJS in both directions (the package CityHall used before its own codec).
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import SnappyJS from "snappyjs";
import { CorruptionError } from "../../src/errors.ts";
import { snappyCompress, snappyUncompress, validateSnappy } from "../../src/util/snappy.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const MAX = 1 << 20;

type WorkerReply = { ok: true; output: Uint8Array } | { ok: false; name: string; message: string };

/** How long a worker may take to load its modules: long on a loaded machine, and not the test. */
const WORKER_START_MS = 120_000;

/**
 * How long one decode may run once the worker is loaded: a guard against a hang (the hostile
 * streams looped ~2^31 times), not a speed check, so generous enough for a loaded machine.
 */
const DECODE_DEADLINE_MS = 60_000;

/**
 * `snappyUncompress` in a worker: a loop that never ends fails after `deadlineMs`. The deadline
 * counts from when the worker reported itself loaded (`{ ready: true }`), so module loading on
 * a busy machine is not mistaken for a hang.
 */
class Decoder {
  #worker!: Worker;
  #ready!: Promise<void>;

  constructor() {
    this.#spawn();
  }

  #spawn(): void {
    const worker = new Worker(new URL("./_snappy_worker.ts", import.meta.url), { type: "module" });
    this.#worker = worker;
    this.#ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.terminate();
        reject(new Error(`Decoder worker did not load within ${WORKER_START_MS} ms`));
      }, WORKER_START_MS);
      worker.onmessage = (e: MessageEvent<{ ready?: boolean }>) => {
        if (e.data?.ready !== true) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async decode(
    input: Uint8Array,
    max = MAX,
    deadlineMs = DECODE_DEADLINE_MS,
  ): Promise<WorkerReply> {
    await this.#ready;
    const worker = this.#worker;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.terminate();
        this.#spawn();
        // A rejected start-up would otherwise be unhandled when no decode follows.
        this.#ready.catch(() => {});
        reject(new Error(`Decoder hung for ${deadlineMs} ms on ${hex(input.subarray(0, 64))}`));
      }, deadlineMs);
      worker.onmessage = (e: MessageEvent<WorkerReply>) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.postMessage({ input, max });
    });
  }

  async close(): Promise<void> {
    // Wait out a start-up in progress so that its timer does not outlive the test.
    await this.#ready.catch(() => {});
    this.#worker.terminate();
  }
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

function bytes(...parts: (number | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else out.push(...p);
  }
  return new Uint8Array(out);
}

/** A strict reference decoder written from the format description (tests only). */
function referenceDecode(input: Uint8Array, max: number): Uint8Array | undefined {
  let pos = 0;
  let length = 0;
  for (let shift = 0, i = 0;; i++, shift += 7) {
    if (i >= 5 || pos >= input.length) return undefined;
    const b = input[pos++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > max) return undefined;
  const out = new Uint8Array(length);
  let o = 0;
  const le = (at: number, width: number) => {
    let v = 0;
    for (let i = 0; i < width; i++) v += input[at + i]! * 2 ** (8 * i);
    return v;
  };
  while (pos < input.length) {
    const tag = input[pos++]!;
    if ((tag & 3) === 0) {
      let len = (tag >> 2) + 1;
      if (len > 60) {
        const w = len - 60;
        if (pos + w > input.length) return undefined;
        len = le(pos, w) + 1;
        pos += w;
      }
      if (pos + len > input.length || o + len > length) return undefined;
      out.set(input.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    const width = [0, 1, 2, 4][tag & 3]!;
    if (pos + width > input.length) return undefined;
    const len = (tag & 3) === 1 ? ((tag >> 2) & 7) + 4 : (tag >> 2) + 1;
    const offset = (tag & 3) === 1 ? (tag >> 5) * 256 + input[pos]! : le(pos, width);
    pos += width;
    if (offset === 0 || offset > o || o + len > length) return undefined;
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
  }
  return o === length ? out : undefined;
}

function expectBad(input: Uint8Array, reason: RegExp, max = MAX): void {
  const check = validateSnappy(input, max);
  if (check.ok) throw new Error(`accepted ${hex(input)}`);
  assertMatch(check.reason, reason);
  assertMatch(check.reason, /at input offset \d+$/);
}

Deno.test("validateSnappy refuses the 18-byte replication packet's body, and decoding it ends at once", async () => {
  // Frame header (12 bytes) + this 6-byte body froze the leader: a literal whose 4-byte length
  // 0x80000000 SnappyJS turns negative, then walks the input backwards ~2^31 times.
  const body = bytes(0x01, 0xfc, 0x00, 0x00, 0x00, 0x80);
  expectBad(body, /literal of 2147483649 bytes runs past the end of the input at input offset 1/);
  const decoder = new Decoder();
  try {
    const reply = await decoder.decode(body);
    if (reply.ok) throw new Error("decoded the hostile body");
    assertEquals(reply.name, "CorruptionError");
    assertMatch(reply.message, /^Invalid Snappy data: literal of 2147483649 bytes/);
  } finally {
    await decoder.close();
  }
});

Deno.test("validateSnappy accepts every tag type and the decoder produces the bytes", () => {
  const cases: [string, Uint8Array, number[]][] = [
    ["empty stream", bytes(0x00), []],
    ["short literal", bytes(0x03, 0x08, 0x61, 0x62, 0x63), [0x61, 0x62, 0x63]],
    [
      "long literal, 1-byte length",
      bytes(0x41, 0xf0, 0x40, new Array(65).fill(7)),
      new Array(65).fill(7),
    ],
    [
      "long literal, 2-byte length",
      bytes(0x41, 0xf4, 0x40, 0x00, new Array(65).fill(8)),
      new Array(65).fill(8),
    ],
    [
      "long literal, 3-byte length",
      bytes(0x41, 0xf8, 0x40, 0x00, 0x00, new Array(65).fill(9)),
      new Array(65).fill(9),
    ],
    [
      "long literal, 4-byte length",
      bytes(0x41, 0xfc, 0x40, 0x00, 0x00, 0x00, new Array(65).fill(10)),
      new Array(65).fill(10),
    ],
    // literal "ab", then a 1-byte-offset copy: length 4 + 0, offset 2.
    ["1-byte-offset copy", bytes(0x06, 0x04, 0x61, 0x62, 0x01, 0x02), [
      0x61,
      0x62,
      0x61,
      0x62,
      0x61,
      0x62,
    ]],
    // literal "x", then a 2-byte-offset copy: length (2 >> 2) + 1 … tag (2 << 2) | 2 = len 3.
    ["2-byte-offset copy", bytes(0x04, 0x00, 0x78, 0x0a, 0x01, 0x00), [0x78, 0x78, 0x78, 0x78]],
    ["4-byte-offset copy", bytes(0x04, 0x00, 0x79, 0x0b, 0x01, 0x00, 0x00, 0x00), [
      0x79,
      0x79,
      0x79,
      0x79,
    ]],
  ];
  for (const [what, input, expected] of cases) {
    const check = validateSnappy(input, MAX);
    if (!check.ok) throw new Error(`${what}: ${check.reason}`);
    assertEquals(check.length, expected.length, what);
    assertEquals([...snappyUncompress(input, MAX)], expected, what);
    assertEquals([...referenceDecode(input, MAX)!], expected, what);
  }
});

Deno.test("validateSnappy refuses truncations of every element", () => {
  expectBad(bytes(), /truncated length header at input offset 0/);
  expectBad(bytes(0x80), /truncated length header/);
  expectBad(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x00), /length header over 5 bytes/);
  expectBad(bytes(0x05, 0x10, 0x61, 0x62), /literal of 5 bytes runs past the end of the input/);
  expectBad(bytes(0x41, 0xf0, 0x40), /truncated literal length at input offset 1/);
  expectBad(bytes(0x41, 0xfc, 0x40, 0x00), /truncated literal length/);
  expectBad(bytes(0x06, 0x04, 0x61, 0x62, 0x01), /truncated 1-byte-offset copy at input offset 4/);
  expectBad(bytes(0x04, 0x00, 0x78, 0x0a, 0x01), /truncated 2-byte-offset copy/);
  expectBad(bytes(0x04, 0x00, 0x79, 0x0b, 0x01, 0x00, 0x00), /truncated 4-byte-offset copy/);
  // The stream ends before producing its declared length (SnappyJS would pad with zeros).
  expectBad(bytes(0x0a, 0x08, 0x61, 0x62, 0x63), /stream decodes to 3 bytes, header says 10/);
});

Deno.test("validateSnappy refuses copies from before the start and offset 0", () => {
  expectBad(bytes(0x04, 0x01, 0x01), /copy from 1 bytes back, only 0 decoded at input offset 1/);
  expectBad(bytes(0x06, 0x04, 0x61, 0x62, 0x01, 0x03), /copy from 3 bytes back, only 2 decoded/);
  expectBad(bytes(0x05, 0x00, 0x61, 0x0e, 0x00, 0x01), /copy from 256 bytes back/);
  expectBad(bytes(0x06, 0x04, 0x61, 0x62, 0x01, 0x00), /copy with offset 0/);
  expectBad(bytes(0x05, 0x00, 0x61, 0x0e, 0x00, 0x00), /copy with offset 0/);
  // 4-byte offset with the top bit set: SnappyJS computes a negative offset and reads garbage.
  expectBad(
    bytes(0x05, 0x00, 0x61, 0x0f, 0x00, 0x00, 0x00, 0x80),
    /copy from 2147483648 bytes back/,
  );
});

Deno.test("validateSnappy refuses lengths past the declared size and over the limit", () => {
  expectBad(
    bytes(0x02, 0x08, 0x61, 0x62, 0x63),
    /literal of 3 bytes runs past the declared length 2/,
  );
  expectBad(
    bytes(0x05, 0x04, 0x61, 0x62, 0x01, 0x02),
    /copy of 4 bytes runs past the declared length 5/,
  );
  expectBad(bytes(0x05, 0x00, 0x61, 0xfe, 0x01, 0x00), /copy of 64 bytes runs past/);
  expectBad(
    bytes(0x81, 0x08, 0x00),
    /declared length 1025 over the limit 1024 at input offset 0/,
    1024,
  );
  expectBad(bytes(0xff, 0xff, 0xff, 0xff, 0x0f), /declared length 4294967295 over the limit/);
  // Long-form literal lengths near 2^32 are refused without any 32-bit wrap.
  expectBad(bytes(0x01, 0xfc, 0xff, 0xff, 0xff, 0xff), /literal of 4294967296 bytes/);
  expectBad(bytes(0x01, 0xfc, 0xff, 0xff, 0xff, 0x7f), /literal of 2147483648 bytes/);
});

Deno.test("snappyUncompress throws CorruptionError (and decodes nothing) on a refused stream", () => {
  let thrown: unknown;
  try {
    snappyUncompress(bytes(0x0a, 0x08, 0x61, 0x62, 0x63), MAX);
  } catch (err) {
    thrown = err;
  }
  if (!(thrown instanceof CorruptionError)) throw new Error(`threw ${thrown}`);
  assertEquals(
    thrown.message,
    "Invalid Snappy data: stream decodes to 3 bytes, header says 10 at input offset 5",
  );
});

Deno.test("fuzz: validateSnappy ⇒ decompression succeeds with the declared length, never hangs", async () => {
  const seed = seedFromEnv();
  console.log(`fuzz snappy seed=${seed} (CITYHALL_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const decoder = new Decoder();
  const samples: Uint8Array[] = [];
  for (let i = 0; i < 32; i++) {
    const n = rng.int(4096);
    const raw = new Uint8Array(n);
    // Repetitive data so that the encoder emits every kind of copy.
    for (let j = 0; j < n; j++) {
      raw[j] = rng.chance(0.7) && j > 0 ? raw[j - 1 - rng.int(Math.min(j, 300))]! : rng.int(256);
    }
    samples.push(raw);
  }
  const cases = fuzzCases(3000);
  let accepted = 0;
  let refused = 0;
  try {
    for (let i = 0; i < cases; i++) {
      let input: Uint8Array;
      const mode = rng.int(4);
      if (mode === 0) {
        // Random bytes behind a plausible length header.
        const body = rng.bytes(rng.int(64));
        input = bytes(rng.int(128), body);
      } else {
        const valid = snappyCompress(rng.pick(samples));
        input = valid.slice();
        const edits = 1 + rng.int(4);
        for (let e = 0; e < edits; e++) {
          const at = rng.int(Math.max(1, input.length));
          const op = rng.int(4);
          if (op === 0 && input.length > 0) input[at] = rng.int(256);
          else if (op === 1 && input.length > 0) input[at] = input[at]! ^ (1 << rng.int(8));
          else if (op === 2) input = input.slice(0, at);
          else input = bytes(input.subarray(0, at), rng.bytes(1 + rng.int(6)), input.subarray(at));
        }
        if (mode === 3 && input.length > 0) {
          if (rng.chance(0.5)) {
            input[0] = rng.int(256); // hostile length header
          } else {
            // A long-form literal whose length has its top bit set (what froze the leader).
            const at = rng.int(input.length);
            input = bytes(input.subarray(0, at), 0xfc, rng.bytes(3), 0x80 | rng.int(128));
          }
        }
      }
      const check = validateSnappy(input, MAX);
      const reference = referenceDecode(input, MAX);
      const reply = await decoder.decode(input);
      const what = `seed=${seed} case=${i} input=${hex(input.subarray(0, 48))}`;
      if (check.ok) {
        accepted++;
        if (!reply.ok) throw new Error(`${what}: validated but failed: ${reply.message}`);
        assertEquals(reply.output.length, check.length, what);
        assert(reference !== undefined, `${what}: the reference decoder refuses it`);
        assertEquals(reply.output, reference, what);
      } else {
        refused++;
        assert(!reply.ok && reply.name === "CorruptionError", what);
      }
    }
    // Valid streams themselves always pass and round-trip.
    for (const raw of samples) assertEquals(snappyUncompress(snappyCompress(raw), MAX), raw);
  } finally {
    await decoder.close();
  }
  console.log(`fuzz snappy: ${cases} cases, ${accepted} accepted, ${refused} refused`);
  assert(accepted > 0 && refused > 0, "the fuzz reached both outcomes");
});

Deno.test("snappyCompress and snappyUncompress read and write SnappyJS's streams, both ways", () => {
  // Tables and replication frames written before CityHall had its own codec came from SnappyJS;
  // remote-write peers use other Snappy encoders. Seeded data of every kind of compressibility,
  // across the 64 KiB fragment boundary.
  const sj = SnappyJS as unknown as {
    compress(raw: Uint8Array): Uint8Array;
    uncompress(compressed: Uint8Array): Uint8Array;
  };
  const rng = new Rng(seedFromEnv());
  const sizes = [0, 1, 3, 4, 14, 15, 16, 59, 60, 61, 255, 256, 4096, 65535, 65536, 65537, 200_000];
  for (let i = 0; i < 200; i++) {
    const n = i < sizes.length ? sizes[i]! : rng.int(i % 10 === 0 ? 300_000 : 5000);
    const repeat = [0, 0.3, 0.7, 0.95, 1][i % 5]!;
    const raw = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      raw[j] = rng.chance(repeat) && j > 0
        ? raw[j - 1 - rng.int(Math.min(j, 3000))]!
        : rng.int(256);
    }
    const ours = snappyCompress(raw);
    assert(ours.length <= 32 + n + n / 6, `output bound, ${n} bytes`);
    assertEquals(snappyUncompress(ours, n), raw, `ours ⇄ ours, ${n} bytes`);
    assertEquals(sj.uncompress(ours), raw, `ours → SnappyJS, ${n} bytes`);
    assertEquals(snappyUncompress(sj.compress(raw), n), raw, `SnappyJS → ours, ${n} bytes`);
  }
});

Deno.test("no module of src/ or bench/ imports snappyjs (Snappy is src/util/snappy.ts's own)", async () => {
  // SnappyJS is CommonJS: importing it would bring Deno's Node layer back into every server's
  // idle RSS (ARCHITECTURE.md § "Memory"). Tests use it as a second implementation only.
  const root = new URL("../../", import.meta.url);
  const importers: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (
        entry.name.endsWith(".ts") && /["']snappyjs["']/.test(await Deno.readTextFile(url))
      ) {
        importers.push(url.pathname.slice(root.pathname.length));
      }
    }
  };
  for (const dir of ["src/", "bench/"]) await walk(new URL(dir, root));
  assertEquals(importers, []);
});
