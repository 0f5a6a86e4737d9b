/**
 * Crash test (RocksDB's crash test, with real processes): a child writes with many concurrent
 * writers and reports each acknowledged write; the parent `kill -9`s it at a random moment,
 * reopens the database and checks that every acknowledged write is readable (at its version
 * or a later one) and that no value appears that was never written. Rounds accumulate in one
 * directory, so recovery also runs on top of earlier recoveries.
 * Runs once per compaction style. CITYHALL_CRASH_ROUNDS sets the rounds per style (CI: 10).
 */

import { assertEquals } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { type CompactionStyle, Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { spawnScript } from "../_helpers/child.ts";

const ROUNDS = intFromEnv("CITYHALL_CRASH_ROUNDS", 10);
const CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;

async function runRound(
  dir: string,
  round: number,
  rng: Rng,
  acked: Map<string, number>,
  style: CompactionStyle,
) {
  let ready = false;
  let killed = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const killAfterMs = 30 + rng.int(400);
  const child = spawnScript(CHILD, [dir, "64", String(round), style], {
    stderr: "inherit",
    onStdoutLine: (line) => {
      if (line === "ready" && !ready) {
        ready = true;
        killTimer = setTimeout(() => {
          killed = true;
          child.signal("SIGKILL");
        }, killAfterMs);
        return;
      }
      const [tag, key, version] = line.split(" ");
      if (tag !== "ack") return;
      const v = Number(version);
      if ((acked.get(key!) ?? -1) < v) acked.set(key!, v);
    },
  });
  const status = await child.exited;
  clearTimeout(killTimer);
  assert(killed, `child exited on its own with code ${status.code}`);
}

for (const style of ["tiered", "leveled"] as const) {
  Deno.test(`Database (${style}) keeps every acknowledged write across ${ROUNDS} kill -9 rounds`, async () => {
    const seed = seedFromEnv();
    const rng = new Rng(seed);
    const dir = await Deno.makeTempDir({ prefix: "cityhall-crash-" });
    const acked = new Map<string, number>();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await runRound(dir, round, rng, acked, style);
        const db = await Database.open(dir, { compactionStyle: style });
        try {
          for (const [key, version] of acked) {
            const got = await db.get(key);
            assert(got !== undefined, `round ${round}: acknowledged ${key} v${version} lost`);
            const text = fromBytes(got);
            const m = /^(.*):v(\d+)(?::p*)?$/.exec(text);
            assert(m !== null && m[1] === key, `round ${round}: ${key} holds a foreign value`);
            assert(Number(m[2]) >= version, `round ${round}: ${key} went back to v${m[2]}`);
          }
          // No value that was never written: every key has the value shape of its own key.
          let n = 0;
          for await (const [k, v] of db.scan({})) {
            const key = fromBytes(k);
            const m = /^(.*):v(\d+)(?::(p*))?$/.exec(fromBytes(v));
            assert(m !== null && m[1] === key, `round ${round}: ${key} has a bad value`);
            if (m[3] !== undefined) assertEquals(m[3].length, Number(m[2]) % 97);
            n++;
          }
          assert(n >= acked.size, `round ${round}: scan saw ${n} keys, ${acked.size} acknowledged`);
        } finally {
          await db.close();
        }
      }
      assert(acked.size > 100, `too few acknowledged writes to mean anything: ${acked.size}`);
    } catch (err) {
      console.error(`crash test failed: CITYHALL_SEED=${seed} dir=${dir} style=${style}`);
      throw err;
    }
    await Deno.remove(dir, { recursive: true });
  });
}
