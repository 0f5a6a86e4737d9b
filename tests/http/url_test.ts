import { assertEquals, assertThrows } from "@std/assert";
import { percentDecode, QueryParams, splitTarget } from "../../src/http/_url.ts";
import { HttpError } from "../../src/http/_response.ts";

Deno.test("splitTarget() keeps the raw path: no dot-segment or escape normalisation", () => {
  assertEquals(splitTarget("http://h:1/v1/keys/a/../b?x=1#f"), {
    path: "/v1/keys/a/../b",
    query: "x=1",
  });
  assertEquals(splitTarget("http://h/v1/keys/%2e%2e"), { path: "/v1/keys/%2e%2e", query: "" });
  assertEquals(splitTarget("http://h"), { path: "/", query: "" });
  assertEquals(splitTarget("https://[::1]:8/a?"), { path: "/a", query: "" });
});

Deno.test("percentDecode() turns escapes into exact bytes, plus only in queries", () => {
  assertEquals(percentDecode("%00%ff%2F%2fa", "k"), new Uint8Array([0, 0xff, 0x2f, 0x2f, 0x61]));
  assertEquals(percentDecode("a+b", "k"), new TextEncoder().encode("a+b"));
  assertEquals(percentDecode("a+b", "k", true), new TextEncoder().encode("a b"));
  assertEquals(percentDecode("é", "k"), new TextEncoder().encode("é"));
  assertEquals(percentDecode("😀", "k"), new TextEncoder().encode("😀"));
  assertThrows(() => percentDecode("%", "k"), HttpError, "percent-encoding");
  assertThrows(() => percentDecode("%0", "k"), HttpError, "percent-encoding");
  assertThrows(() => percentDecode("%g0", "k"), HttpError, "percent-encoding");
});

Deno.test("QueryParams keeps the first occurrence and raw bytes", () => {
  const q = new QueryParams("prefix=%FF%00&limit=5&limit=6&flag&empty=");
  assertEquals(q.bytes("prefix"), new Uint8Array([0xff, 0x00]));
  assertEquals(q.string("limit"), "5");
  assertEquals(q.string("flag"), "");
  assertEquals(q.string("empty"), "");
  assertEquals(q.has("missing"), false);
  assertThrows(() => q.string("prefix"), HttpError, "UTF-8");
});
