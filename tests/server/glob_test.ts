import { assertEquals } from "@std/assert";
import { globMatch, globPrefix } from "../../src/server/glob.ts";

const enc = new TextEncoder();
const m = (p: string, s: string, nocase = false) => globMatch(enc.encode(p), enc.encode(s), nocase);

Deno.test("globMatch follows Redis stringmatchlen", () => {
  assertEquals(m("*", ""), true);
  assertEquals(m("*", "abc"), true);
  assertEquals(m("a*c", "abbbc"), true);
  assertEquals(m("a*c", "abbbd"), false);
  assertEquals(m("h?llo", "hello"), true);
  assertEquals(m("h?llo", "hllo"), false);
  assertEquals(m("h[ae]llo", "hallo"), true);
  assertEquals(m("h[^e]llo", "hello"), false);
  assertEquals(m("h[a-b]llo", "hbllo"), true);
  assertEquals(m("h[b-a]llo", "hallo"), true);
  assertEquals(m("a\\*b", "a*b"), true);
  assertEquals(m("a\\*b", "axb"), false);
  assertEquals(m("*a*b*c*", "xaybzc"), true);
  assertEquals(m("*a*b*c*", "xaybz"), false);
  assertEquals(m("HELLO", "hello", true), true);
  assertEquals(m("HELLO", "hello"), false);
  assertEquals(m("[abc", "a"), true);
});

Deno.test("globPrefix extracts the literal prefix for range scans", () => {
  const p = (s: string) => {
    const r = globPrefix(enc.encode(s));
    return [new TextDecoder().decode(r.prefix), r.prefixOnly];
  };
  assertEquals(p("user:*"), ["user:", true]);
  assertEquals(p("user:*:x"), ["user:", false]);
  assertEquals(p("a\\*b*"), ["a*b", true]);
  assertEquals(p("*"), ["", true]);
  assertEquals(p("exact"), ["exact", false]);
  assertEquals(p("h?llo"), ["h", false]);
});
