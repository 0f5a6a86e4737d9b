import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { type JsonLimits, JsonPushParser } from "../../src/http/_json.ts";
import { JsonBytes } from "../../src/http/_json_raw.ts";
import { HttpError } from "../../src/http/_response.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const LOOSE: JsonLimits = { depthMax: 64, valuesMax: 1_000_000 };
const encoder = new TextEncoder();

/** Parses `bytes` pushed in random pieces. */
function parseInPieces(bytes: Uint8Array, rng: Rng, limits = LOOSE): unknown {
  const p = new JsonPushParser(limits);
  let i = 0;
  while (i < bytes.length) {
    const n = rng.chance(0.3) ? 1 : 1 + rng.int(40);
    p.push(bytes.subarray(i, i + n));
    i += n;
  }
  return p.end();
}

function randomString(rng: Rng): string {
  const parts = ["a", "é", "😀", '"', "\\", "\n", "\t", "\u0001", "\u2028", "/", " ", "\ud800"];
  let s = "";
  for (let i = rng.int(12); i > 0; i--) s += rng.pick(parts);
  return s;
}

function randomValue(rng: Rng, depth: number): unknown {
  const kind = rng.int(depth > 4 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1.5, 1e21, -2.5e-7, 123456789, Number.MAX_SAFE_INTEGER]);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
      return Array.from({ length: rng.int(5) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[randomString(rng)] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

// The oracle is the value JSON.stringify wrote, not JSON.parse: V8 15.0's JSON.parse (Deno 2.9.6)
// now and then returns "\\" for the one-character key "\u0001" after this generator ran
// (CITYHALL_SEED=634890216, document 274), while a fresh process parses the same text right.
Deno.test("JsonPushParser reads back random documents split at random points", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let n = 0; n < 500; n++) {
    const value = randomValue(rng, 0);
    const text = rng.chance(0.5) ? JSON.stringify(value) : JSON.stringify(value, null, 2);
    assertEquals(parseInPieces(encoder.encode(text), rng), value, text);
  }
});

Deno.test("JsonPushParser refuses what JSON.parse refuses", () => {
  const rng = new Rng(7);
  const bad = [
    "",
    " ",
    "{",
    "[1,]",
    '{"a":1,}',
    "[1 2]",
    "01",
    "1.",
    "-",
    ".5",
    "+1",
    "1e",
    "tru",
    "nul",
    "True",
    '"\\x"',
    '"\\u12"',
    '"\\u12G4"',
    '"a\tb"',
    '"abc',
    "[1]]",
    "{}{}",
    '{"a" 1}',
    "{1:2}",
    "[}",
    "{]",
    "NaN",
    "Infinity",
    "'a'",
  ];
  for (const text of bad) {
    assertThrows(() => JSON.parse(text), undefined, undefined, `JSON.parse(${text})`);
    const err = assertThrows(() => parseInPieces(encoder.encode(text), rng), HttpError);
    assertEquals(err.status, 400, text);
    assert(err.message.startsWith("Invalid JSON body: "), err.message);
  }
  // Invalid UTF-8 inside and outside strings; a UTF-8 character split across pushes is fine.
  for (const bytes of [[0x22, 0xff, 0x22], [0x7b, 0xff, 0x7d], [0x22, 0xe2, 0x82, 0x22]]) {
    const err = assertThrows(() => parseInPieces(new Uint8Array(bytes), rng), HttpError);
    assert(err.message.includes("UTF-8"), err.message);
  }
  assertEquals(parseInPieces(encoder.encode('"€😀"'), new Rng(1)), "€😀");
  // A BOM is skipped, as TextDecoder did for JSON.parse before.
  assertEquals(parseInPieces(new Uint8Array([0xef, 0xbb, 0xbf, 0x31]), rng), 1);
});

Deno.test("JsonPushParser stops at the first byte past the depth or value limit", () => {
  const deep = new JsonPushParser({ depthMax: 3, valuesMax: 100 });
  deep.push(encoder.encode('{"ops":[{"k":'));
  const err = assertThrows(() => deep.push(encoder.encode("[")), HttpError);
  assertEquals(err.message, "Invalid JSON body: nested too deeply (limit 3 levels) at byte 13");
  // A megabyte of '[' fails at byte 8 without looking at the rest.
  const flood = new JsonPushParser({ depthMax: 8, valuesMax: 100 });
  const e2 = assertThrows(() => flood.push(new Uint8Array(1 << 20).fill(0x5b)), HttpError);
  assert(e2.message.endsWith("at byte 8"), e2.message);
  const many = new JsonPushParser({ depthMax: 3, valuesMax: 4 });
  const e3 = assertThrows(() => many.push(encoder.encode("[1,2,3,4]")), HttpError);
  assert(e3.message.includes("too many values (limit 4)"), e3.message);
});

Deno.test("JsonPushParser keeps __proto__ as a plain property, as JSON.parse does", () => {
  const value = parseInPieces(encoder.encode('{"__proto__":{"x":1},"a":2}'), new Rng(3));
  assertEquals(Object.getPrototypeOf(value), Object.prototype);
  assertEquals(Object.keys(value as object), ["__proto__", "a"]);
  assertEquals((value as Record<string, unknown>).x, undefined);
});

Deno.test("JsonPushParser decodes long strings with escapes split anywhere", () => {
  const rng = new Rng(11);
  const s = 'x\\y"z\u00e9\ud83d\ude00\n'.repeat(5000);
  const text = JSON.stringify({ v: s, w: "\u0000\u001f" });
  for (let n = 0; n < 5; n++) {
    assertEquals(parseInPieces(encoder.encode(text), rng), JSON.parse(text));
  }
  // As bytes: the escape output spans many of the reader's internal segments.
  const asBytes = parseInPieces(encoder.encode(text), rng, { ...LOOSE, bytesStringsFrom: 0 });
  assertEquals((asBytes as { v: JsonBytes }).v.bytes, encoder.encode(s));
  // Escapes only, more than the reader collects before it starts a new segment.
  const onlyEscapes = '\n\t"\u0001'.repeat(20_000);
  const parsed = parseInPieces(encoder.encode(JSON.stringify(onlyEscapes)), rng, {
    ...LOOSE,
    bytesStringsFrom: 0,
  });
  assertEquals((parsed as JsonBytes).bytes, encoder.encode(onlyEscapes));
});

/** String values through UTF-8 and back (lone surrogates become U+FFFD); keys unchanged. */
function normalise(value: unknown, fromBytes: boolean): unknown {
  if (value instanceof JsonBytes) return new TextDecoder().decode(value.bytes);
  if (typeof value === "string") {
    return fromBytes ? value : new TextDecoder().decode(encoder.encode(value));
  }
  if (Array.isArray(value)) return value.map((v) => normalise(v, fromBytes));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, normalise(v, fromBytes)]),
    );
  }
  return value;
}

Deno.test("JsonPushParser with bytesStringsFrom gives string values as UTF-8 bytes", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  for (let n = 0; n < 500; n++) {
    const value = randomValue(rng, 0);
    const text = JSON.stringify(value);
    const limits = { ...LOOSE, bytesStringsFrom: rng.pick([0, 1, 4, 1000]) };
    const parsed = parseInPieces(encoder.encode(text), rng, limits);
    assertEquals(normalise(parsed, true), normalise(value, false), text);
  }
  // Long values come out as exact-size byte buffers; short ones stay strings.
  const parsed = parseInPieces(
    encoder.encode(JSON.stringify({ a: "é".repeat(300), b: "\ud83d\ude00\n", c: "x" })),
    rng,
    { ...LOOSE, bytesStringsFrom: 8 },
  ) as Record<string, unknown>;
  assertInstanceOf(parsed.a, JsonBytes);
  const a = parsed.a as JsonBytes;
  assertEquals(a.bytes.length, 600);
  assertEquals(a.bytes.buffer.byteLength, 600);
  assertEquals(parsed.b, "😀\n");
  assertEquals(parsed.c, "x");
  for (const bad of ['"\\x"', '"\\u12G4"', '"a\tb"', '"\\u12"']) {
    const err = assertThrows(
      () => parseInPieces(encoder.encode(bad), rng, { ...LOOSE, bytesStringsFrom: 0 }),
      HttpError,
    );
    assertEquals(err.status, 400);
  }
  const err = assertThrows(
    () => parseInPieces(new Uint8Array([0x22, 0xc3, 0x22]), rng, { ...LOOSE, bytesStringsFrom: 0 }),
    HttpError,
  );
  assert(err.message.includes("UTF-8"), err.message);
});
