/**
 * `cityhall verify`, `cityhall salvage` and `cityhall import` as an operator runs them: a
 * clean database verifies (exit 0) and round-trips through an export file and through a pipe,
 * with overwrites, deletes and expiries across tables, retired tables and the WAL; a damaged
 * one exports what is left (exit 1, every skipped part on stderr) and imports; bad exports,
 * non-empty targets, paths inside the data directory and a locked directory are refused.
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { parseLogfmt } from "../../src/util/log.ts";
import { runCli } from "../cli/_helpers.ts";
import { Rng } from "../_helpers/random.ts";
import { buildDatabase, flipByte, keyOf, KEYS, snapshotDir, valueOf } from "./_helpers.ts";
import { assertUnchanged } from "./_helpers.ts";

const NOW = Date.now();

/** What each key holds at the end: value and expiry, or undefined when gone. */
type Model = Map<string, { value: string; expireAtMs: number } | undefined>;

async function buildMixed(dir: string): Promise<Model> {
  const rng = new Rng(7);
  const model: Model = new Map();
  const db = await Database.open(dir, {
    memtableSizeBytesMax: 16 * 1024,
    walSegmentSizeBytes: 8192,
    blockSizeBytes: 512,
    levelTablesMax: 2,
  });
  for (let round = 0; round < 2000; round++) {
    const key = `k${rng.int(400)}`;
    const roll = rng.int(10);
    if (roll === 0) {
      await db.delete(key);
      model.set(key, undefined);
    } else if (roll === 1) {
      // Already expired: must not come back.
      await db.put(key, `expired-${round}`, { expireAtMs: NOW - 1000 });
      model.set(key, undefined);
    } else {
      const expireAtMs = roll === 2 ? NOW + 3_600_000 + round : 0;
      const value = `${key}-v${round}-${"z".repeat(rng.int(60))}`;
      await db.put(key, value, expireAtMs ? { expireAtMs } : {});
      model.set(key, { value, expireAtMs });
    }
  }
  await db.close();
  return model;
}

async function assertMatches(dir: string, model: Model): Promise<void> {
  const db = await Database.open(dir);
  try {
    for (const [key, want] of model) {
      const got = db.getEntry(key);
      if (want === undefined) assertEquals(got, undefined, key);
      else {
        assertEquals(got && fromBytes(got.value), want.value, key);
        assertEquals(got?.expireAtMs, want.expireAtMs, key);
      }
    }
    let n = 0;
    for await (const _ of db.scan({})) n++;
    assertEquals(n, [...model.values()].filter((v) => v !== undefined).length);
  } finally {
    await db.close();
  }
}

Deno.test("cityhall verify, salvage and import round-trip a clean database through a file and a pipe", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-salvage-cli-" });
  const model = await buildMixed(dir);
  const before = await snapshotDir(dir);
  const verify = await runCli(["verify", "--data-dir", dir]);
  assertEquals(verify.code, 0, verify.stdout + verify.stderr);
  assert(verify.stdout.includes("verify=ok"), verify.stdout);
  assert(verify.stdout.includes("open=ok"), verify.stdout);

  const file = `${dir}-export.chx`;
  const salvage = await runCli(["salvage", "--data-dir", dir, "--output", file]);
  assertEquals(salvage.code, 0, salvage.stderr);
  const summary = salvage.stderr.split("\n").map(parseLogfmt).find((l) =>
    l?.msg === "salvage summary"
  );
  assertEquals(summary?.damagedParts, "0", salvage.stderr);
  const imported = await runCli(["import", "--data-dir", `${dir}-new`, file]);
  assertEquals(imported.code, 0, imported.stderr);
  assertEquals(parseLogfmt(imported.stdout.trim())?.imported, summary?.exported);
  await assertMatches(`${dir}-new`, model);

  // Through a pipe: salvage to stdout, import from stdin.
  const piped = await runCli(["salvage", "--data-dir", dir, "--output", "-"]);
  assertEquals(piped.code, 0, piped.stderr);
  // The same export but for the creation time in the header (and so the stream checksum).
  assertEquals(piped.stdoutBytes.length, (await Deno.readFile(file)).length);
  const fromStdin = await runCli(["import", "--data-dir", `${dir}-pipe`], {
    stdin: piped.stdoutBytes,
  });
  assertEquals(fromStdin.code, 0, fromStdin.stderr);
  await assertMatches(`${dir}-pipe`, model);

  await assertUnchanged(dir, before);
  for (const d of [dir, `${dir}-new`, `${dir}-pipe`]) await Deno.remove(d, { recursive: true });
  await Deno.remove(file);
});

Deno.test("cityhall salvage exports what a database that no longer opens still holds, and logs each skipped part", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-salvage-cli-" });
  await buildDatabase(dir);
  const table = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".sst"))
    .sort()[0]!;
  await flipByte(`${dir}/${table}`, -12); // the footer's checksum
  const open = await runCli(["--data-dir", dir, "get", keyOf(1)]);
  assertEquals(open.code, 1, "the default open refuses");
  const file = `${dir}-export.chx`;
  const salvage = await runCli(["salvage", "--data-dir", dir, "--output", file]);
  assertEquals(salvage.code, 1, "damaged parts were skipped");
  const lines = salvage.stderr.split("\n").map(parseLogfmt).filter((l) => l !== undefined);
  const skipped = lines.filter((l) => l.msg === "damaged part skipped");
  assertEquals(skipped.length, 1, salvage.stderr);
  assertEquals(skipped[0]!.file, `${dir}/${table}`);
  assertEquals(skipped[0]!.part, "footer");
  assertEquals(Number(skipped[0]!.offset), Deno.statSync(`${dir}/${table}`).size - 64);
  assertEquals(lines.find((l) => l.msg === "salvage summary")?.exported, String(KEYS));
  const imported = await runCli(["import", "--data-dir", `${dir}-new`, file]);
  assertEquals(imported.code, 0, imported.stderr);
  const db = await Database.open(`${dir}-new`);
  for (const i of [0, 1, 1500, 2999, 3000, KEYS - 1]) {
    assertEquals(fromBytes((await db.get(keyOf(i)))!), valueOf(i));
  }
  await db.close();
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(`${dir}-new`, { recursive: true });
  await Deno.remove(file);
});

Deno.test("cityhall import refuses a damaged export or a non-empty directory and changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-salvage-cli-" });
  await buildDatabase(dir);
  const good = `${dir}-export.chx`;
  assertEquals((await runCli(["salvage", "--data-dir", dir, "--output", good])).code, 0);
  const bytes = await Deno.readFile(good);
  for (const at of [0, 20, 40, Math.floor(bytes.length / 2), bytes.length - 3]) {
    const bad = bytes.slice();
    bad[at] = bad[at]! ^ 0x01;
    await Deno.writeFile(`${good}.bad`, bad);
    const res = await runCli(["import", "--data-dir", `${dir}-bad`, `${good}.bad`]);
    assertEquals(res.code, 1, `byte ${at}`);
    assert(res.stderr.includes("Cannot read export"), res.stderr);
    assertEquals(await Deno.stat(`${dir}-bad`).catch(() => undefined), undefined, "not created");
  }
  // A cut file, through stdin (import reads it all before it finds the END record missing).
  const truncated = await runCli(["import", "--data-dir", `${dir}-bad`, "-"], {
    stdin: bytes.subarray(0, bytes.length - 29), // exactly the END record
  });
  assertEquals(truncated.code, 1);
  assert(truncated.stderr.includes("END record"), truncated.stderr);
  assertEquals(await Deno.stat(`${dir}-bad`).catch(() => undefined), undefined, "not created");
  await Deno.remove(`${good}.bad`);
  const notEmpty = await runCli(["import", "--data-dir", dir, good]);
  assertEquals(notEmpty.code, 1);
  assert(notEmpty.stderr.includes("is not empty"), notEmpty.stderr);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(good);
});

Deno.test("cityhall salvage and verify: usage errors exit 2, a directory in use exits 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-salvage-cli-" });
  await buildDatabase(dir);
  const inside = await runCli(["salvage", "--data-dir", dir, "--output", `${dir}/x.chx`]);
  assertEquals(inside.code, 2);
  assert(inside.stderr.includes("inside the data directory"), inside.stderr);
  await Deno.writeFile(`${dir}-exists`, new Uint8Array(1));
  const exists = await runCli(["salvage", "--data-dir", dir, "--output", `${dir}-exists`]);
  assertEquals(exists.code, 2);
  assertEquals((await runCli(["verify", "--data-dir", dir, "--bogus"])).code, 2);
  assertEquals((await runCli(["import", "x.chx"])).code, 2, "import needs --data-dir");
  const db = await Database.open(dir);
  try {
    for (const command of ["verify", "salvage"]) {
      const res = await runCli(
        [command, "--data-dir", dir, "--output", `${dir}-out`].slice(
          0,
          command === "verify" ? 3 : 5,
        ),
      );
      assertEquals(res.code, 1, command);
      assert(res.stderr.includes("in use by another process"), res.stderr);
    }
  } finally {
    await db.close();
  }
  assertEquals(await Deno.stat(`${dir}-out`).catch(() => undefined), undefined);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(`${dir}-exists`);
});
