/**
 * Unit tests of the CLI's pieces: the RESP reply reader, redis-cli formatting, INFO parsing
 * and flag parsing.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { parseFlags, splitCommand, UsageError } from "../../src/cli/_args.ts";
import { escapeGlob } from "../../src/cli/_remote.ts";
import { formatReply, parseInfo, quoteBytes, replyToJson } from "../../src/cli/format.ts";
import { encodeCommand, ReplyReader, type RespReply } from "../../src/cli/resp_client.ts";
import { ProtocolError } from "../../src/errors.ts";

const enc = new TextEncoder();

function readAll(bytes: Uint8Array, chunkSize: number): RespReply[] {
  const reader = new ReplyReader();
  const out: RespReply[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    reader.push(bytes.subarray(i, i + chunkSize));
    for (let r = reader.next(); r !== undefined; r = reader.next()) out.push(r);
  }
  return out;
}

const SAMPLE = enc.encode(
  "+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*0\r\n" +
    "*2\r\n$1\r\n7\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n",
);

Deno.test("ReplyReader reads every RESP2 type whatever the chunking", () => {
  const expected: RespReply[] = [
    { kind: "simple", value: "OK" },
    { kind: "error", value: "ERR bad" },
    { kind: "integer", value: 42n },
    { kind: "bulk", value: enc.encode("he\r\nl") },
    { kind: "bulk", value: null },
    { kind: "array", value: null },
    { kind: "array", value: [] },
    {
      kind: "array",
      value: [
        { kind: "bulk", value: enc.encode("7") },
        {
          kind: "array",
          value: [{ kind: "bulk", value: enc.encode("a") }, {
            kind: "bulk",
            value: enc.encode(""),
          }],
        },
      ],
    },
  ];
  for (const size of [1, 2, 3, 7, 1000]) assertEquals(readAll(SAMPLE, size), expected);
});

Deno.test("ReplyReader rejects an unknown type byte and a bad length", () => {
  const reader = new ReplyReader();
  reader.push(enc.encode("?what\r\n"));
  assertThrows(() => reader.next(), ProtocolError);
  const reader2 = new ReplyReader();
  reader2.push(enc.encode("$-7\r\n"));
  assertThrows(() => reader2.next(), ProtocolError);
});

Deno.test("encodeCommand writes a multibulk array of the arguments' bytes", () => {
  assertEquals(
    new TextDecoder().decode(encodeCommand(["SET", "k", "vé"])),
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nvé\r\n",
  );
});

Deno.test("formatReply prints like redis-cli", () => {
  const [, , , , , , , nested] = readAll(SAMPLE, 1000);
  assertEquals(formatReply(nested!), '1) "7"\n2) 1) "a"\n   2) ""');
  assertEquals(formatReply({ kind: "bulk", value: null }), "(nil)");
  assertEquals(formatReply({ kind: "integer", value: -3n }), "(integer) -3");
  assertEquals(formatReply({ kind: "error", value: "ERR x" }), "(error) ERR x");
  assertEquals(formatReply({ kind: "array", value: [] }), "(empty array)");
  assertEquals(quoteBytes(Uint8Array.of(0x61, 0x22, 0x0a, 0xff)), '"a\\"\\n\\xff"');
  const ten = Array.from({ length: 10 }, () => ({ kind: "integer", value: 1n }) as RespReply);
  assertEquals(formatReply({ kind: "array", value: ten }).split("\n")[0], " 1) (integer) 1");
});

Deno.test("replyToJson keeps text, base64s binary and maps errors", () => {
  assertEquals(replyToJson({ kind: "bulk", value: Uint8Array.of(0xff) }), { base64: "/w==" });
  assertEquals(replyToJson({ kind: "error", value: "ERR x" }), { error: "ERR x" });
  assertEquals(replyToJson({ kind: "integer", value: 2n ** 60n }), "1152921504606846976");
});

Deno.test("parseInfo turns INFO text into sections of fields", () => {
  assertEquals(parseInfo("# Server\r\nredis_version:7.2.0\r\nsha:00000000\r\nport:7878\r\n"), {
    server: { redis_version: "7.2.0", sha: "00000000", port: 7878 },
  });
});

Deno.test("parseFlags keeps positional values as typed and rejects unknown flags", () => {
  const spec = { string: ["port", "limit"], boolean: ["json"] };
  const p = parseFlags("t", ["put", "k", "-3.5", "--json", "true", "--port", "7"], spec);
  assertEquals(p.positionals, ["put", "k", "-3.5", "true"]);
  assertEquals(p.strings.get("port"), "7");
  assertEquals(p.booleans.has("json"), true);
  assertEquals(parseFlags("t", ["--", "--json", "007"], spec).positionals, ["--json", "007"]);
  assertEquals(parseFlags("t", ["--port=9"], spec).strings.get("port"), "9");
  assertThrows(() => parseFlags("t", ["--nope"], spec), UsageError, "unknown flag --nope");
  assertThrows(() => parseFlags("t", ["-x"], spec), UsageError, "unknown flag -x");
  assertThrows(() => parseFlags("t", ["--port"], spec), UsageError, "needs a value");
});

Deno.test("splitCommand lets global flags come before the command", () => {
  assertEquals(splitCommand(["--data-dir", "D", "put", "k", "v"]), {
    command: "put",
    rest: ["--data-dir", "D", "k", "v"],
  });
  assertEquals(splitCommand(["--version"]), { rest: ["--version"] });
  assertEquals(splitCommand(["--json", "get", "k"]), { command: "get", rest: ["--json", "k"] });
});

Deno.test("escapeGlob makes a prefix match only itself", () => {
  assertEquals(escapeGlob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
});

Deno.test("ReplyReader reads RESP3's types whatever the chunking", () => {
  const bytes = enc.encode(
    "%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n,-1.5e3\r\n" + // a map holding a set of one double
      "_\r\n#t\r\n#f\r\n,inf\r\n(12345678901234567890\r\n=8\r\ntxt:hi\r\n\r\n!5\r\nERR x\r\n" +
      "|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n" + // an attribute, dropped, then the reply it annotates
      ">2\r\n+message\r\n$1\r\nm\r\n%0\r\n~0\r\n",
  );
  const expected: RespReply[] = [
    {
      kind: "map",
      value: [
        [{ kind: "simple", value: "a" }, { kind: "integer", value: 1n }],
        [{ kind: "simple", value: "b" }, {
          kind: "array",
          value: [{ kind: "double", value: -1500 }],
          resp3: "set",
        }],
      ],
    },
    { kind: "bulk", value: null },
    { kind: "boolean", value: true },
    { kind: "boolean", value: false },
    { kind: "double", value: Infinity },
    { kind: "integer", value: 12345678901234567890n },
    { kind: "bulk", value: enc.encode("hi\r\n") },
    { kind: "error", value: "ERR x" },
    { kind: "bulk", value: enc.encode("v") },
    {
      kind: "array",
      value: [{ kind: "simple", value: "message" }, { kind: "bulk", value: enc.encode("m") }],
      resp3: "push",
    },
    { kind: "map", value: [] },
    { kind: "array", value: [], resp3: "set" },
  ];
  for (const size of [1, 2, 5, 1000]) assertEquals(readAll(bytes, size), expected);
  assertEquals(formatReply(expected[0]!), "1# a => (integer) 1\n2# b => 1~ (double) -1500");
  assertEquals(replyToJson(expected[0]!), { a: 1, b: [-1500] });
  assertEquals(formatReply(expected[10]!), "(empty hash)");
  assertEquals(formatReply(expected[11]!), "(empty set)");
});

Deno.test("ReplyReader rejects malformed RESP3 replies", () => {
  for (const bad of [",1.2.3\r\n", "#x\r\n", "_x\r\n", "%-1\r\n", "=2\r\nab\r\n", "(1x\r\n"]) {
    const reader = new ReplyReader();
    reader.push(enc.encode(bad));
    assertThrows(() => reader.next(), ProtocolError, undefined, bad);
  }
});
