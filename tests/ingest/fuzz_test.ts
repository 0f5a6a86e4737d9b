/**
 * Fuzz tests of the ingest decoders fed from the network: the Influx line-protocol parser and the
 * remote-write (Snappy + protobuf) decoder. Valid bodies are mutated (bytes flipped, inserted,
 * removed, cut, spliced with hostile fragments) and random bodies generated; every case must end
 * in a result or the decoder's own error (never a TypeError or RangeError from deep inside), within
 * a bounded time, with results that respect the decoders' invariants. Seeded (CITYHALL_SEED) and
 * scaled by CITYHALL_FUZZ_SCALE (`deno task fuzz`).
 */

import { assert, assertEquals } from "@std/assert";
import { parseInflux } from "../../src/ingest/influx.ts";
import {
  decodeRemoteWrite,
  decodeWriteRequest,
  encodeWriteRequest,
  RemoteWriteError,
} from "../../src/ingest/remote_write.ts";
import { snappyCompress } from "../../src/util/snappy.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

/**
 * Loose bound on one body's parse (bodies are under 1 KiB): a parser that loops or backtracks
 * shows up here. A body over it is timed once more and the faster run counts, since such a
 * parser is slow every time, and a stall of the shared, loaded machine is not.
 */
const BODY_MS_MAX = 1000;

/** Runs `fn` and answers the milliseconds it took; over `BODY_MS_MAX`, the faster of two runs. */
function timed(fn: () => void): number {
  let t0 = performance.now();
  fn();
  let ms = performance.now() - t0;
  if (ms >= BODY_MS_MAX) {
    t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms;
}

/** Line-protocol fragments that exercise escapes, types and edge cases. */
const INFLUX_PIECES = [
  "cpu",
  "cpu\\ load",
  "m\\,x",
  ",host=a",
  ",host=a\\ b",
  ",k\\=x=v\\,w",
  " value=1",
  " value=1i",
  " value=18446744073709551615u",
  " value=-9223372036854775808i",
  ' msg="a \\"quoted\\" string"',
  " ok=true",
  " ok=F",
  " v=1e308",
  " v=NaN",
  " v=-inf",
  " 1700000000000000000",
  " 99999999999999999999999",
  " -1",
  "\n",
  "\r\n",
  "# comment\n",
  "=",
  ",",
  "\\",
  '"',
  " ",
  "\u00e9\u20ac",
  "\u0000",
];

function influxBody(rng: Rng): string {
  let s = "";
  const n = 1 + rng.int(30);
  for (let i = 0; i < n; i++) s += rng.pick(INFLUX_PIECES);
  return s;
}

const VALID_INFLUX = [
  "weather,location=us-midwest,season=summer temperature=82,humidity=71i 1465839830100400200",
  'cpu,host=server\\ 01,region=us-west usage_idle=92.5,usage_user=3.1,status="ok",up=true',
  "disk,path=/data free=1234u,used=0.5 1465839830",
].join("\n");

function mutateText(rng: Rng, text: string): string {
  const chars = [...text];
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(chars.length + 1);
    switch (rng.int(4)) {
      case 0:
        chars.splice(at, 1);
        break;
      case 1:
        chars.splice(at, 0, rng.pick(INFLUX_PIECES));
        break;
      case 2:
        chars[at] = String.fromCharCode(rng.int(128));
        break;
      default:
        chars.length = Math.min(chars.length, at);
    }
  }
  return chars.join("");
}

Deno.test("fuzz: the Influx line-protocol parser answers every body with samples or line errors", () => {
  const rng = new Rng(seedFromEnv());
  const cases = fuzzCases(10_000);
  let worstMs = 0;
  let samples = 0;
  let lineErrors = 0;
  for (let i = 0; i < cases; i++) {
    const body = rng.chance(0.5) ? mutateText(rng, VALID_INFLUX) : influxBody(rng);
    const unit = rng.pick(["ns", "us", "ms", "s"] as const);
    let batch!: ReturnType<typeof parseInflux>;
    const ms = timed(() => {
      try {
        batch = parseInflux(body, unit, 1_700_000_000_000);
      } catch (err) {
        throw new Error(
          `seed ${rng.seed} case ${i}: parseInflux threw on ${JSON.stringify(body)}`,
          {
            cause: err,
          },
        );
      }
    });
    worstMs = Math.max(worstMs, ms);
    assertEquals(batch.series.length, batch.samples);
    assertEquals(batch.timestamps.length, batch.samples);
    assertEquals(batch.values.length, batch.samples);
    for (let s = 0; s < batch.samples; s++) {
      assert(Number.isFinite(batch.timestamps[s]), `seed ${rng.seed} case ${i}: timestamp`);
      assert(batch.series[s]!.key.length > 0, `seed ${rng.seed} case ${i}: empty key`);
    }
    for (const e of batch.errors) {
      assert(e.line >= 1 && e.line <= batch.lines, `seed ${rng.seed} case ${i}: line ${e.line}`);
      // InfluxDB's own wording ("missing measurement"), which Telegraf users search for.
      assert(e.message.length > 0, `seed ${rng.seed} case ${i}: empty message`);
    }
    samples += batch.samples;
    lineErrors += batch.errors.length;
  }
  console.log(
    `influx fuzz: seed ${rng.seed}, ${cases} bodies, ${samples} samples, ${lineErrors} line errors, worst ${
      worstMs.toFixed(2)
    } ms`,
  );
  assert(worstMs < BODY_MS_MAX, `a body took ${worstMs} ms`);
});

function validWriteRequest(rng: Rng): Uint8Array {
  const series = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const m = 1 + rng.int(5);
    series.push({
      labels: [["__name__", `metric_${i}`], ["job", "j"], ["site", `s${rng.int(3)}`]] as [
        string,
        string,
      ][],
      timestamps: Array.from({ length: m }, (_, k) => 1_700_000_000_000 + k * 1000),
      values: Float64Array.from({ length: m }, () => rng.next() * 100),
    });
  }
  return encodeWriteRequest(series);
}

function mutateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = [...bytes];
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(5)) {
      case 0:
        out[at] = rng.int(256);
        break;
      case 1:
        out.splice(at, 1);
        break;
      case 2:
        out.splice(at, 0, ...rng.bytes(1 + rng.int(6)));
        break;
      case 3: // a huge varint: a length or tag far past the buffer
        out.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
        break;
      default:
        out.length = Math.min(out.length, at);
    }
  }
  return new Uint8Array(out);
}

function decodeOrRefuse(
  decode: (b: Uint8Array) => { samples: number; timestamps: Float64Array; values: Float64Array },
  body: Uint8Array,
  where: string,
): "ok" | "refused" {
  try {
    const r = decode(body);
    assertEquals(r.timestamps.length, r.samples, where);
    assertEquals(r.values.length, r.samples, where);
    return "ok";
  } catch (err) {
    if (err instanceof RemoteWriteError) {
      assert(/^[A-Z]/.test(err.message), `${where}: message ${err.message}`);
      return "refused";
    }
    throw new Error(`${where}: not a RemoteWriteError`, { cause: err });
  }
}

Deno.test("fuzz: the remote-write decoder answers every body with a request or a RemoteWriteError", () => {
  const rng = new Rng(seedFromEnv());
  const cases = fuzzCases(4_000);
  const counts = { ok: 0, refused: 0 };
  let worstMs = 0;
  for (let i = 0; i < cases; i++) {
    const where = `seed ${rng.seed} case ${i}`;
    const raw = rng.chance(0.8) ? mutateBytes(rng, validWriteRequest(rng)) : rng.bytes(rng.int(64));
    // Through Snappy: a valid frame of the mutated protobuf, and a mutated frame of a valid one.
    const framed = mutateBytes(rng, snappyCompress(validWriteRequest(rng)));
    let outcomes: ("ok" | "refused")[] = [];
    const ms = timed(() => {
      outcomes = [
        decodeOrRefuse(decodeWriteRequest, raw, `${where} (protobuf)`),
        decodeOrRefuse(decodeRemoteWrite, snappyCompress(raw), `${where} (snappy)`),
        decodeOrRefuse(decodeRemoteWrite, framed, `${where} (bad snappy)`),
      ];
    });
    for (const outcome of outcomes) counts[outcome]++;
    worstMs = Math.max(worstMs, ms);
  }
  console.log(
    `remote-write fuzz: seed ${rng.seed}, ${
      cases * 3
    } bodies, ${counts.ok} decoded, ${counts.refused} refused, worst ${worstMs.toFixed(2)} ms`,
  );
  assert(counts.refused > 0 && counts.ok > 0, JSON.stringify(counts));
  assert(worstMs < BODY_MS_MAX, `a body took ${worstMs} ms`);
});
