/**
 * kill -9 at random moments of a write load with frequent flushes and compactions (so the
 * kill often lands inside a manifest write), then `MANIFEST` damaged in a copy of the
 * directory: the copy opens from `MANIFEST.prev` with every acknowledged write, and the
 * original opens normally. CITYHALL_CRASH_ROUNDS sets the rounds (CI: 20; this file runs half).
 */

import { assert } from "../../src/util/assert.ts";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { spawnScript } from "../_helpers/child.ts";

const ROUNDS = Math.max(1, Math.floor(intFromEnv("CITYHALL_CRASH_ROUNDS", 20) / 2));
const CHILD = new URL("../engine/_crash_child.ts", import.meta.url).pathname;

/** Runs the writing child until it is killed; records each acknowledged version. */
async function killRound(dir: string, round: number, rng: Rng, acked: Map<string, number>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let killed = false;
  const killAfterMs = 50 + rng.int(500);
  const child = spawnScript(CHILD, [dir, "32", String(round)], {
    stderr: "inherit",
    onStdoutLine: (line) => {
      if (line === "ready" && timer === undefined) {
        timer = setTimeout(() => {
          killed = true;
          child.signal("SIGKILL");
        }, killAfterMs);
        return;
      }
      const [tag, key, version] = line.split(" ");
      if (tag === "ack" && (acked.get(key!) ?? -1) < Number(version)) {
        acked.set(key!, Number(version));
      }
    },
  });
  await child.exited;
  clearTimeout(timer);
  assert(killed, "the child exited on its own");
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.name !== "LOCK") await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

async function checkAcked(dir: string, acked: Map<string, number>, what: string) {
  const db = await Database.open(dir);
  try {
    for (const [key, version] of acked) {
      const got = await db.get(key);
      assert(got !== undefined, `${what}: acknowledged ${key} v${version} lost`);
      const m = /^(.*):v(\d+)(?::p*)?$/.exec(fromBytes(got));
      assert(m !== null && m[1] === key, `${what}: ${key} holds a foreign value`);
      assert(Number(m[2]) >= version, `${what}: ${key} went back to v${m[2]}`);
    }
  } finally {
    await db.close();
  }
}

Deno.test(`MANIFEST damaged after each of ${ROUNDS} kill -9 rounds: MANIFEST.prev opens with every acknowledged write`, async () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const dir = await Deno.makeTempDir({ prefix: "cityhall-manifest-crash-" });
  const acked = new Map<string, number>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      await killRound(dir, round, rng, acked);
      const copy = `${dir}-copy`;
      await copyDir(dir, copy);
      const bytes = await Deno.readFile(`${copy}/MANIFEST`);
      const at = rng.int(bytes.length);
      bytes[at] = bytes[at]! ^ (1 << rng.int(8));
      await Deno.writeFile(`${copy}/MANIFEST`, bytes);
      await checkAcked(copy, acked, `round ${round}, MANIFEST byte ${at} flipped`);
      await Deno.remove(copy, { recursive: true });
      await checkAcked(dir, acked, `round ${round}`);
    }
    assert(acked.size > 100, `too few acknowledged writes to mean anything: ${acked.size}`);
  } catch (err) {
    console.error(`manifest crash test failed: CITYHALL_SEED=${seed} dir=${dir}`);
    throw err;
  }
  await Deno.remove(dir, { recursive: true });
});
