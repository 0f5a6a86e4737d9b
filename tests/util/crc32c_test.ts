import { assertEquals } from "@std/assert";
import {
  crc32c,
  crc32cExtend,
  crc32cExtendWord,
  crc32cOfWords,
  maskCrc,
  unmaskCrc,
} from "../../src/util/crc32c.ts";
import { Rng } from "../_helpers/random.ts";

const enc = new TextEncoder();

Deno.test("crc32c() matches the published check values", () => {
  // RFC 3720 appendix B.4 and the common "123456789" check value.
  assertEquals(crc32c(enc.encode("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assertEquals(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  assertEquals(crc32c(ascending), 0x46dd794e);
});

Deno.test("crc32cExtend() over pieces equals crc32c() over the whole", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    assertEquals(crc32cExtend(crc32c(data, 0, cut), data, cut), crc32c(data));
  }
});

Deno.test("maskCrc() round-trips and changes the value", () => {
  for (const c of [0, 1, 0xffffffff, 0xe3069283, 0x12345678]) {
    assertEquals(unmaskCrc(maskCrc(c)), c);
  }
  assertEquals(maskCrc(0xe3069283) !== 0xe3069283, true);
});

Deno.test("crc32cOfWords() equals crc32c() over the two words' little-endian bytes", () => {
  const rng = new Rng(0xc5c);
  const words = [0, 1, 0x80, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1234_5678];
  for (let i = 0; i < 200; i++) words.push(rng.int(2 ** 32));
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i + 1 < words.length; i++) {
    const a = words[i]!;
    const b = words[words.length - 1 - i]!;
    view.setUint32(0, a, true);
    view.setUint32(4, b, true);
    assertEquals(crc32cOfWords(a, b), crc32c(bytes));
  }
});

Deno.test("crc32cExtendWord() equals crc32cExtend() over the word's little-endian bytes", () => {
  const rng = new Rng(0xc5d);
  const words = [0, 1, 0x80, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1234_5678];
  for (let i = 0; i < 200; i++) words.push(rng.int(2 ** 32));
  const bytes = new Uint8Array(4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) {
    const start = i === 0 ? 0 : words[words.length - i]!;
    view.setUint32(0, words[i]!, true);
    assertEquals(crc32cExtendWord(start, words[i]!), crc32cExtend(start, bytes));
  }
});
