import { assert, assertEquals, assertThrows } from "@std/assert";
import { ProtocolError } from "../../src/errors.ts";
import { RespParser, RespWriter, splitInlineArgs } from "../../src/server/resp.ts";
import { echoArg } from "../../src/server/context.ts";
import { PackedArgs } from "../../src/server/resp_packed.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function texts(args: Uint8Array[] | undefined): string[] | undefined {
  return args?.map((a) => dec.decode(a));
}

Deno.test("RespParser.next() parses multibulk fed one byte at a time", () => {
  const p = new RespParser();
  const input = enc.encode("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n");
  const got: string[][] = [];
  for (const b of input) {
    p.push(new Uint8Array([b]));
    let c;
    while ((c = p.next()) !== undefined) got.push(texts(c)!);
  }
  assertEquals(got, [["SET", "k", ""], ["PING"]]);
  assertEquals(p.bufferedBytes, 0);
});

Deno.test("RespParser.next() handles inline lines ending in \\n or \\r\\n and skips blanks", () => {
  const p = new RespParser();
  p.push(enc.encode("PING\n\r\n  \r\nECHO  hi  \r\n"));
  assertEquals(texts(p.next()), ["PING"]);
  assertEquals(texts(p.next()), ["ECHO", "hi"]);
  assertEquals(p.next(), undefined);
});

Deno.test("RespParser.next() is binary-safe in bulk strings", () => {
  const p = new RespParser();
  const value = new Uint8Array([0, 13, 10, 255, 36, 42]);
  p.push(enc.encode("*2\r\n$3\r\nGET\r\n$6\r\n"));
  p.push(value);
  p.push(enc.encode("\r\n"));
  const c = p.next()!;
  assertEquals(c[1], value);
});

Deno.test("RespParser.next() rejects bad framing with Redis's messages", () => {
  const cases: [string, string][] = [
    ["*x\r\n", "Protocol error: invalid multibulk length"],
    ["*1\r\n$01\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n$+1\r\n", "Protocol error: invalid bulk length"],
    ["*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"],
    ['"abc', "Protocol error: unbalanced quotes in request"],
  ];
  for (const [input, message] of cases) {
    const p = new RespParser();
    p.push(enc.encode(input + (input.endsWith("\r\n") ? "" : "\r\n")));
    assertThrows(() => p.next(), ProtocolError, message);
  }
});

Deno.test("RespParser limits: args, bulk size, query buffer, restricted mode", () => {
  let p = new RespParser({ argsMax: 3 });
  p.push(enc.encode("*4\r\n"));
  assertThrows(() => p.next(), ProtocolError, "invalid multibulk length");
  p = new RespParser({ bulkSizeBytesMax: 10 });
  p.push(enc.encode("*1\r\n$11\r\n"));
  assertThrows(() => p.next(), ProtocolError, "invalid bulk length");
  p = new RespParser({ queryBufferBytesMax: 100 });
  p.push(enc.encode("*3\r\n$60\r\n" + "a".repeat(60) + "\r\n$60\r\n"));
  assertThrows(() => p.next(), ProtocolError, "query buffer limit exceeded");
  p = new RespParser();
  p.restricted = true;
  p.push(enc.encode("*11\r\n"));
  assertThrows(() => p.next(), ProtocolError, "unauthenticated multibulk length");
  p = new RespParser();
  p.restricted = true;
  p.push(enc.encode("*1\r\n$16385\r\n"));
  assertThrows(() => p.next(), ProtocolError, "unauthenticated bulk length");
});

Deno.test("splitInlineArgs follows sdssplitargs quoting", () => {
  const s = (line: string) => texts(splitInlineArgs(enc.encode(line)));
  assertEquals(s('set "a b" c'), ["set", "a b", "c"]);
  assertEquals(s('"\\x41\\n\\t\\"q\\\\"'), ['A\n\t"q\\']);
  assertEquals(s("'it\\'s' 'a\\nb'"), ["it's", "a\\nb"]);
  assertEquals(s('foo"bar baz"'), ["foobar baz"]);
  assertEquals(s('""'), [""]);
  assertEquals(s("   "), []);
  assertEquals(s('"abc"d'), undefined);
  assertEquals(s("'abc"), undefined);
});

Deno.test("RespWriter.integer() writes digits as String() prints them, at every length", () => {
  const rng = new Rng(seedFromEnv());
  const values = [0, 1, 9, 10, 99, 100, 999, 1000, 1_700_000_000_000, Number.MAX_SAFE_INTEGER];
  for (let p = 1; p <= Number.MAX_SAFE_INTEGER; p *= 10) values.push(p - 1, p, p + 1);
  for (let i = 0; i < 2000; i++) values.push(rng.int(10 ** (1 + rng.int(15))));
  values.push(-1, -1_700_000_000_000, 2 ** 53, 1e20, 1.5, -0);
  const w = new RespWriter();
  for (const v of values) w.integer(v);
  assertEquals(
    dec.decode(w.takeBytes()),
    values.map((v) => `:${String(v)}\r\n`).join(""),
    `seed ${rng.seed}`,
  );
});

Deno.test("RespWriter writes an echoed argument's bytes as sent; other text stays UTF-8", () => {
  const w = new RespWriter();
  const arg = Uint8Array.from([0x61, 0xff, 0xc3, 0xa9, 0xed, 0xb2, 0x80, 0x00, 0x62]);
  w.error(`ERR x '${echoArg(arg)}' é 😀 \udc80`);
  const expected = [
    ...new TextEncoder().encode("-ERR x 'a"),
    0xff,
    0xc3,
    0xa9,
    0xed,
    0xb2,
    0x80,
    ...new TextEncoder().encode("' é 😀 "),
    0x80,
    13,
    10,
  ];
  assertEquals([...w.takeBytes()], expected);
});

Deno.test("RespWriter encodes RESP2 and RESP3 shapes", () => {
  const w = new RespWriter();
  w.ok();
  w.integer(-5);
  w.integer(9223372036854775807n);
  w.bulk("héllo");
  w.null();
  w.nullArray();
  w.map(1);
  w.boolean(true);
  w.double(1.5);
  w.error("ERR bad\r\nthing");
  assertEquals(
    dec.decode(w.takeBytes()),
    "+OK\r\n:-5\r\n:9223372036854775807\r\n$6\r\nhéllo\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n$3\r\n1.5\r\n-ERR bad  thing\r\n",
  );
  w.protocol = 3;
  w.null();
  w.nullArray();
  w.map(1);
  w.set(2);
  w.boolean(false);
  w.double(1.5);
  w.verbatim("hi");
  assertEquals(dec.decode(w.takeBytes()), "_\r\n_\r\n%1\r\n~2\r\n#f\r\n,1.5\r\n=6\r\ntxt:hi\r\n");
});

Deno.test("RespWriter.release() pools its buffer for another writer; replies stay separate", () => {
  const a = new RespWriter();
  const b = new RespWriter();
  a.bulk("first");
  const aChunks = a.take();
  assertEquals(dec.decode(aChunks[0]!), "$5\r\nfirst\r\n");
  // A writer with something pending keeps its buffer.
  b.integer(7);
  b.release();
  assertEquals(dec.decode(b.takeBytes()), ":7\r\n");
  // Released after its chunks were written: the next writer may encode into the same memory.
  a.release();
  assertEquals(a.bufferBytes, 0);
  const c = new RespWriter();
  c.array(2);
  c.bulk("x");
  c.bulk("yz");
  const cChunks = c.take();
  assertEquals(dec.decode(cChunks[0]!), "*2\r\n$1\r\nx\r\n$2\r\nyz\r\n");
  assertEquals(cChunks[0]!.buffer, aChunks[0]!.buffer);
  // Releasing twice gives nothing twice.
  c.release();
  c.release();
  const d = new RespWriter();
  const e = new RespWriter();
  d.ok();
  e.ok();
  assert(d.take()[0]!.buffer !== e.take()[0]!.buffer);
});

Deno.test("RespWriter.takeOne() of a pooled buffer reuses that buffer's last view only for the same length", () => {
  const a = new RespWriter();
  a.integer(12);
  const first = a.takeOne()!;
  assertEquals(dec.decode(first), ":12\r\n");
  a.release();
  // Another writer takes the pooled buffer: a reply of the same length is written through the
  // view the buffer already had, with the new bytes in it.
  const b = new RespWriter();
  b.integer(34);
  const second = b.takeOne()!;
  assert(second === first, "same buffer and length: the pooled view");
  assertEquals(dec.decode(second), ":34\r\n");
  b.release();
  // Another length: a new view of the right length.
  const c = new RespWriter();
  c.integer(5);
  const third = c.takeOne()!;
  assert(third !== first);
  assertEquals(third.buffer, first.buffer);
  assertEquals(dec.decode(third), ":5\r\n");
  // A writer that encodes more before taking never hands out a stale view.
  c.release();
  const d = new RespWriter();
  d.integer(6);
  d.integer(7);
  assertEquals(dec.decode(d.takeOne()!), ":6\r\n:7\r\n");
  d.release();
});

Deno.test("RespParser.take() hands TS.MADD out packed in any split of the bytes; next() and other commands are unchanged", () => {
  const rng = new Rng(seedFromEnv());
  const commands = [
    ["TS.MADD", "a", "1000", "1.5", "bb", "*", "-2", "a", "1001", "x".repeat(300)],
    ["ts.madd", "k", "1", "2", "k", "2", ""],
    ["SET", "k", "v"],
    ["TS.MADDX", "a", "b", "c"],
    ["TS.MADD", "only"],
  ];
  const wire = enc.encode(
    commands.map((c) => `*${c.length}\r\n` + c.map((a) => `$${a.length}\r\n${a}\r\n`).join(""))
      .join(""),
  );
  for (let round = 0; round < 50; round++) {
    const p = new RespParser();
    p.packTsMadd = true;
    const got: (string[] | { packed: string[] })[] = [];
    let at = 0;
    while (at < wire.length) {
      const n = 1 + rng.int(round === 0 ? 1 : 40);
      p.push(wire.subarray(at, at + n));
      at += n;
      let c;
      while ((c = p.take()) !== undefined) {
        got.push(c instanceof PackedArgs ? { packed: texts(c.toArgs())! } : texts(c)!);
      }
    }
    assertEquals(got, [
      { packed: commands[0]! },
      { packed: commands[1]! },
      commands[2]!,
      commands[3]!,
      { packed: commands[4]! },
    ], `seed ${rng.seed}`);
    assertEquals(p.bufferedBytes, 0);
  }
  const plain = new RespParser();
  plain.packTsMadd = true;
  plain.push(wire);
  assertEquals(texts(plain.next()), commands[0]);
  const off = new RespParser();
  off.push(wire);
  assert(Array.isArray(off.take()));
});

Deno.test("RespParser: a bad frame inside a packed TS.MADD fails as in any other command", () => {
  const head = "*7\r\n$7\r\nTS.MADD\r\n$1\r\na\r\n$2\r\n10\r\n";
  const bad = [
    "$-1\r\n",
    "$x\r\n",
    "$01\r\n5\r\n",
    ":1\r\n",
    `$${1 << 20}\r\n`,
    "$1\r\n5\r\n$1\r\na\r\n$99999999999999999999\r\n",
  ];
  const limits = { bulkSizeBytesMax: 1 << 19, queryBufferBytesMax: 1 << 16 };
  for (const tail of bad) {
    const messages = [false, true].map((pack) => {
      const p = new RespParser(limits);
      p.packTsMadd = pack;
      try {
        p.push(enc.encode(head + tail));
        return String(p.take());
      } catch (err) {
        assert(err instanceof ProtocolError);
        return (err as ProtocolError).message;
      }
    });
    assertEquals(messages[1], messages[0], JSON.stringify(tail));
    assert(messages[0]!.startsWith("Protocol error"), `${JSON.stringify(tail)}: ${messages[0]}`);
  }
  // Over the query buffer limit while the arguments are complete in the buffer.
  const big = "x".repeat(40_000);
  const two =
    `*4\r\n$7\r\nTS.MADD\r\n$${big.length}\r\n${big}\r\n$${big.length}\r\n${big}\r\n$1\r\n1\r\n`;
  const results = [false, true].map((pack) => {
    const p = new RespParser(limits);
    p.packTsMadd = pack;
    try {
      p.push(enc.encode(two));
      return "parsed";
    } catch (err) {
      return (err as Error).message;
    }
  });
  assertEquals(results[1], results[0]);
});

Deno.test("RespParser reuses a repeated command name and its read region; arguments stay intact", () => {
  const p = new RespParser();
  const got: Uint8Array[][] = [];
  const regions: Uint8Array[] = [];
  for (const line of ["*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"]) {
    // Read as the connection does: into `writable()`, then `commit`, `take`, `release`.
    const region = p.writable();
    regions.push(region);
    const bytes = enc.encode(line);
    region.set(bytes);
    p.commit(bytes.length);
    got.push(p.next()!);
    assertEquals(p.next(), undefined);
    p.release();
  }
  const third = enc.encode("*2\r\n$3\r\nget\r\n$1\r\nc\r\n");
  p.push(third);
  got.push(p.next()!);
  // The same name is the same array (never changed once parsed); another spelling its own.
  assert(got[0]![0] === got[1]![0]);
  assert(got[2]![0] !== got[1]![0]);
  assert(regions[0] === regions[1], "the same read region again");
  // Later reads into the same buffer do not change what was handed out before.
  assertEquals(got.map(texts), [["GET", "a"], ["GET", "b"], ["get", "c"]]);
});
