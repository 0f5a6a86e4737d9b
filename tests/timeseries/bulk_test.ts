/**
 * The bulk write path's building blocks (`src/timeseries/bulk.ts`, `head.ts`): `Head.appendRun`
 * leaves exactly the head that as many `append`s leave (bytes, and the state an O(1) `upsert` of
 * the newest sample undoes), through decimal runs, a value that forces a re-encode mid-run, and
 * float mode; `KeyIds` numbers keys exactly as a map of their bytes would, whatever layout the
 * samples come in (its guesses are only shortcuts), also when reused after `reset`; a batch's
 * log op lists each series' entries together, in order of first appearance, however the
 * samples interleave and however many series there are; TS.MADD's lookup memo never answers
 * a series whose key has an expiry.
 */

import { assertEquals } from "@std/assert";
import { Head } from "../../src/timeseries/head.ts";
import { KeyIds } from "../../src/timeseries/bulk.ts";
import { decodeLog, ENTRY_SAMPLES, type LogEntry } from "../../src/timeseries/log.ts";
import { TimeSeriesStore, type TsError } from "../../src/timeseries/mod.ts";
import { Database } from "../../src/mod.ts";
import { ByteWriter } from "../../src/util/buffers.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

function bytesOf(head: Head): Uint8Array {
  const out = new ByteWriter(64);
  head.serialize(out);
  return out.finish();
}

Deno.test("Head.appendRun leaves the bytes and undo state of as many appends", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + rng.int(300);
    const ts = new Float64Array(n);
    const values = new Float64Array(n);
    let t = rng.int(1_000_000);
    const kind = rng.int(3);
    for (let i = 0; i < n; i++) {
      t += 1 + rng.int(rng.chance(0.1) ? 100_000 : 2000);
      ts[i] = t;
      values[i] = kind === 0
        ? 20 + rng.int(2000) / 100 // two decimals
        : kind === 1
        ? rng.chance(0.05) ? rng.next() : rng.int(50) / 10 // a float forces a re-encode
        : rng.next() * 1e6;
    }
    const one = new Head();
    for (let i = 0; i < n; i++) one.append(ts[i]!, values[i]!);
    const run = new Head();
    // In pieces, as writeRun hands them over (runs end at seals and upserts).
    for (let i = 0; i < n;) {
      const j = Math.min(n, i + 1 + rng.int(40));
      run.appendRun(ts, values, i, j);
      i = j;
    }
    assertEquals(bytesOf(run), bytesOf(one), `trial ${trial}`);
    // The newest sample is replaced in O(1) from the state the run left.
    const last = ts[n - 1]!;
    one.upsert(last, 7.25);
    run.upsert(last, 7.25);
    assertEquals(bytesOf(run), bytesOf(one), `trial ${trial} after upsert`);
    assertEquals(run.decode(), one.decode());
  }
});

Deno.test("KeyIds numbers keys as a map of their bytes does, in any layout and after reset", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const enc = new TextEncoder();
  const ids = new KeyIds();
  for (let trial = 0; trial < 100; trial++) {
    // Now and then more keys than a fresh table has slots: it grows while a command runs.
    const distinct = rng.chance(0.1) ? 100 + rng.int(400) : 1 + rng.int(30);
    // Keys of equal length that differ in one byte, and a few of other lengths.
    const names = Array.from(
      { length: distinct },
      (_, k) => rng.chance(0.2) ? `s:${k}:${"x".repeat(rng.int(3))}` : `sensor:${k % 10}${k}`,
    );
    const layout = rng.int(3);
    const n = 1 + rng.int(Math.max(400, 2 * distinct));
    const order = Array.from({ length: n }, (_, i) =>
      layout === 0
        ? i % distinct // round robin
        : layout === 1
        ? Math.floor(i * distinct / n) // each key's samples together
        : rng.int(distinct));
    // Packed back to back, as the RESP parser keeps them.
    const parts = order.map((k) => enc.encode(names[k]!));
    const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    const bounds: number[] = [];
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      bounds.push(at, at + p.length);
      at += p.length;
    }
    ids.reset();
    const model = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const name = names[order[i]!]!;
      if (!model.has(name)) model.set(name, model.size);
      assertEquals(ids.id(bytes, bounds[2 * i]!, bounds[2 * i + 1]!), model.get(name), name);
    }
    assertEquals(ids.keys.map((k) => new TextDecoder().decode(k)), [...model.keys()]);
  }
});

Deno.test("a TS.MADD's log op lists each series' entries together, in order of first appearance, when series interleave or outnumber the batch's flat list", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-test-batch-order-" });
  const db = await Database.open(dir, { syncMode: "none" });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const key = (name: string) => new TextEncoder().encode(name);
    // 70 series: more than the flat list holds (64). `r` has a rule, so the command goes
    // sample by sample in command order: `r` and `s0` interleave.
    const names = ["r", ...Array.from({ length: 70 }, (_, i) => `s${i}`)];
    for (const n of [...names, "rd"]) await store.create(key(n)).durable;
    await store.createRule(key("r"), key("rd"), {
      aggregator: "avg",
      bucketMs: 10,
      alignMs: 0,
      backfill: false,
    }).durable;
    for (const interleaved of [false, true]) {
      const t0 = interleaved ? 1000 : 0;
      const samples: { key: Uint8Array; ts: number; value: number }[] = [];
      if (interleaved) {
        for (let i = 0; i < 6; i++) {
          samples.push({ key: key(i % 2 ? "s0" : "r"), ts: t0 + i, value: i });
        }
      } else {
        for (let i = 0; i < 3 * 70; i++) {
          samples.push({ key: key(`s${i % 70}`), ts: t0 + i, value: i });
        }
      }
      const logged: LogEntry[] = [];
      store.madd(samples, (ops) => {
        for (const op of ops) {
          if (op.type === "log") logged.push(...decodeLog(op.value as Uint8Array));
        }
        return db.write(ops);
      });
      // What the command wrote, per series in order of first appearance, and nothing else.
      const expected = new Map<number, number[]>();
      for (const s of samples) {
        const v = store.find(s.key)!.version;
        if (!expected.has(v)) expected.set(v, []);
        expected.get(v)!.push(s.ts);
      }
      const got: [number, number[]][] = [];
      for (const e of logged) {
        if (e.type !== ENTRY_SAMPLES) continue;
        const last = got[got.length - 1];
        if (last !== undefined && last[0] === e.version) last[1].push(...e.ts);
        else got.push([e.version, [...e.ts]]);
      }
      // The rule's destination gets its bucket's sample after `r`'s and `s0`'s.
      const rd = store.find(key("rd"))!.version;
      assertEquals(got.filter(([v]) => v !== rd), [...expected]);
    }
  } finally {
    await store.close();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TS.MADD's lookup memo never answers a series whose key expires: the expiry ends it without a write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-test-lookup-expiry-" });
  let now = 1_000_000;
  const db = await Database.open(dir, { syncMode: "none", nowMs: () => now });
  const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
  try {
    const key = new TextEncoder().encode("s");
    await store.create(key).durable;
    assertEquals(store.madd([{ key, ts: 1, value: 1 }]).value, [1]);
    // The series' metadata again, now with an expiry (what PEXPIRE writes).
    const meta = db.getEntry(key)!;
    await db.write([{ type: "meta", key, value: meta.value, expireAtMs: now + 100 }]);
    assertEquals(store.madd([{ key, ts: 2, value: 2 }]).value, [2]);
    assertEquals(store.madd([{ key, ts: 3, value: 3 }]).value, [3]);
    now += 100;
    const after = store.madd([{ key, ts: 4, value: 4 }]).value;
    assertEquals(after.length, 1);
    assertEquals((after[0] as TsError).message, "ERR TSDB: the key is not a TSDB key");
  } finally {
    await store.close();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
