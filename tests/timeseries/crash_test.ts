/**
 * Crash test of the time-series layer with real processes: a child adds samples (in order,
 * late into sealed chunks, TS.MADD batches) from concurrent writers while checkpoints,
 * flushes and compactions run, and reports each acknowledged sample; the parent `kill -9`s it
 * at a random moment, reopens, and checks that every acknowledged sample is there with its
 * value and that no sample exists that was never written. Rounds accumulate in one directory.
 * CITYHALL_CRASH_ROUNDS sets the rounds (CI: 10).
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { toBytes } from "../../src/util/bytes.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { spawnScript } from "../_helpers/child.ts";
import { valueOf } from "./_crash_child.ts";

const ROUNDS = intFromEnv("CITYHALL_CRASH_ROUNDS", 10);
const WRITERS = 16;
const CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;

async function runRound(dir: string, round: number, rng: Rng, acked: Set<string>) {
  let killed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killAfterMs = 100 + rng.int(900);
  const child = spawnScript(CHILD, [dir, String(WRITERS), String(round)], {
    stderr: "inherit",
    onStdoutLine: (line) => {
      if (line === "ready") {
        timer = setTimeout(() => {
          killed = true;
          child.signal("SIGKILL");
        }, killAfterMs);
      } else if (line.startsWith("ack ")) acked.add(line.slice(4));
    },
  });
  const status = await child.exited;
  clearTimeout(timer);
  assert(killed, `child exited on its own with code ${status.code}`);
}

Deno.test(`TimeSeriesStore keeps every acknowledged sample across ${ROUNDS} kill -9 rounds`, async () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const dir = await Deno.makeTempDir({ prefix: "cityhall-ts-crash-" });
  const acked = new Set<string>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await runRound(dir, round, rng, acked);
      const db = await Database.open(dir);
      const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
      try {
        const present = new Set<string>();
        for (let w = 0; w < WRITERS; w++) {
          const key = toBytes(`s${w}`);
          if (!store.find(key)) continue;
          const got = store.range(key, { from: 0, to: Number.MAX_SAFE_INTEGER - 1 });
          got.ts.forEach((t, i) => {
            assertEquals(got.values[i], valueOf(w, t), `round ${round}: s${w} at ${t}`);
            present.add(`${w} ${t}`);
          });
          assertEquals(store.info(key).totalSamples, got.ts.length, `round ${round}: s${w} count`);
        }
        for (const a of acked) assert(present.has(a), `round ${round}: acknowledged ${a} lost`);
      } finally {
        await store.close();
        await db.close();
      }
    }
    assert(acked.size > 200, `too few acknowledged samples to mean anything: ${acked.size}`);
    console.log(`${acked.size} acknowledged samples audited over ${ROUNDS} rounds`);
  } catch (err) {
    console.error(`time-series crash test failed: CITYHALL_SEED=${seed} dir=${dir}`);
    throw err;
  }
  await Deno.remove(dir, { recursive: true });
});
