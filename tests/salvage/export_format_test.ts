import { assertEquals, assertRejects } from "@std/assert";
import { assert } from "../../src/util/assert.ts";
import { CorruptionError } from "../../src/errors.ts";
import { type ExportItem, ExportWriter, readExport } from "../../src/salvage/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";

const enc = new TextEncoder();

function sample(n = 5): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new ExportWriter((c) => chunks.push(c.slice()), 1_700_000_000_000);
  for (let i = 0; i < n; i++) {
    w.add({
      key: enc.encode(`k${i}`),
      value: enc.encode(`value ${i}`),
      expireAtMs: i === 2 ? 1_800_000_000_000 : 0,
    });
  }
  w.finish();
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  chunks.reduce((o, c) => (out.set(c, o), o + c.length), 0);
  return out;
}

async function readAll(bytes: Uint8Array, chunk = 7): Promise<ExportItem[]> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const out: ExportItem[] = [];
  for await (const item of readExport(chunks, "test")) out.push(item);
  return out;
}

Deno.test("Export round-trips entries with expiries, whatever the chunking", async () => {
  const bytes = sample();
  for (const chunk of [1, 7, 1000]) {
    const items = await readAll(bytes, chunk);
    assertEquals(items.length, 6);
    const last = items[5]!;
    assert(last.type === "end", "END last");
    assertEquals(last.totals.entries, 5);
    const third = items[2]!;
    assert(third.type === "entry", "an entry");
    assertEquals(
      [fromBytes(third.entry.key), fromBytes(third.entry.value), third.entry.expireAtMs],
      ["k2", "value 2", 1_800_000_000_000],
    );
  }
});

Deno.test("Export: the worked example of ARCHITECTURE.md", () => {
  const chunks: Uint8Array[] = [];
  const w = new ExportWriter((c) => chunks.push(c.slice()), 1_700_000_000_000);
  w.add({ key: enc.encode("a"), value: enc.encode("1"), expireAtMs: 0 });
  w.finish();
  const hex = Array.from(chunks[0]!, (b) => b.toString(16).padStart(2, "0")).join(" ");
  assertEquals(
    hex,
    [
      "43 48 45 58 50 4f 52 54 01 00 00 00 00 00 00 00 00 68 e5 cf 8b 01 00 00 00 00 00 00 f7 24 e5 3e",
      "05 00 00 00 2e 43 5e 36 01 01 61 00 01 31",
      "14 00 00 00 54 1c f4 11 02 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 2b 51 e9 9e",
    ].join(" "),
  );
});

Deno.test("Export: every flipped byte and every truncation is CorruptionError", async () => {
  const bytes = sample(3);
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i] = bad[i]! ^ 0x02;
    await assertRejects(() => readAll(bad), CorruptionError, undefined, `byte ${i}`);
  }
  for (let n = 0; n < bytes.length; n++) {
    await assertRejects(
      () => readAll(bytes.subarray(0, n)),
      CorruptionError,
      undefined,
      `cut at ${n}`,
    );
  }
  const extra = new Uint8Array(bytes.length + 1);
  extra.set(bytes);
  await assertRejects(() => readAll(extra), CorruptionError, "after the END record");
});
