/**
 * Child process of crash_test.ts: opens the database in Deno.args[0] (compaction style
 * Deno.args[3]) and runs many concurrent
 * writers until killed. Each writer owns its keys and writes increasing versions; after a
 * write's promise resolves (durable: syncMode "always") it prints `ack <key> <version>` on
 * stdout. The parent kills it with SIGKILL at a random moment.
 */

import { Database } from "../../src/mod.ts";

const [dir, writersArg, roundArg, styleArg] = Deno.args;
const writers = Number(writersArg ?? 64);
const round = Number(roundArg ?? 0);
const db = await Database.open(dir!, {
  memtableSizeBytesMax: 64 * 1024,
  walSegmentSizeBytes: 256 * 1024,
  levelTablesMax: 3,
  tableSizeBytesTarget: 32 * 1024,
  compactionStyle: styleArg === "leveled" ? "leveled" : "tiered",
});
const out = Deno.stdout;
const enc = new TextEncoder();
console.log("ready");

async function writer(w: number): Promise<void> {
  for (let j = 0;; j++) {
    const key = `r${round}-w${w}-k${j % 40}`;
    const value = `${key}:v${j}:${"p".repeat(j % 97)}`;
    if (j % 25 === 24) {
      await db.write([
        { type: "put", key, value },
        { type: "put", key: `${key}-batch`, value: `${key}-batch:v${j}` },
      ]);
      out.writeSync(enc.encode(`ack ${key} ${j}\nack ${key}-batch ${j}\n`));
    } else {
      await db.put(key, value);
      out.writeSync(enc.encode(`ack ${key} ${j}\n`));
    }
  }
}

await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
