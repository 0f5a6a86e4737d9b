/**
 * Differential fuzzer of the RESP parser: the same raw bytes (malformed frames: bad, negative and
 * huge lengths and counts, missing CRLF, inline commands with quotes, nested arrays, null bulks in
 * a command, mutated valid frames) sent on a fresh connection to a CityHall server and to a
 * redis-server; what each answers, and whether it closes, is compared. A tool, run by hand:
 *
 *   deno run -A tests/_helpers/resp_proto_diff.ts --ours 7900 --redis 7901 --seed 1 --cases 500
 *
 * After the case's bytes an `ECHO __end__` frame is sent: a server that reached it answers it
 * and the case ends at once; a server still waiting inside an unfinished frame is given
 * `--idle-ms` (default 400) of silence. Between cases a separate connection PINGs CityHall:
 * it must keep answering (a crash or a wedged loop ends the run).
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { Rng } from "./random.ts";
import { encodeCommand, latin1Bytes } from "./resp_client.ts";

const latin1 = new TextDecoder("latin1");
const END = encodeCommand(["ECHO", "__end__"]);
const END_REPLY = "$7\r\n__end__\r\n";

/** What a server did with one case. */
export interface Transcript {
  text: string;
  closed: boolean;
}

/** Sends `bytes` then the end marker on a fresh connection; reads until close, marker or idle. */
export async function exchange(
  port: number,
  bytes: Uint8Array,
  idleMs: number,
): Promise<Transcript> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let text = "";
  let closed = false;
  const all = new Uint8Array(bytes.length + END.length);
  all.set(bytes);
  all.set(END, bytes.length);
  const writing = (async () => {
    try {
      let off = 0;
      while (off < all.length) off += await conn.write(all.subarray(off));
    } catch {
      // Closed by the server before everything was sent.
    }
  })();
  const buf = new Uint8Array(65536);
  try {
    while (!text.endsWith(END_REPLY)) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        conn.read(buf),
        new Promise<"idle">((r) => timer = setTimeout(() => r("idle"), idleMs)),
      ]);
      clearTimeout(timer);
      if (n === "idle") break;
      if (n === null) {
        closed = true;
        break;
      }
      text += latin1.decode(buf.subarray(0, n));
    }
  } catch {
    closed = true; // Reset by the peer.
  }
  try {
    conn.close();
  } catch {
    // Closed already.
  }
  await writing;
  if (text.endsWith(END_REPLY)) text = text.slice(0, -END_REPLY.length) + "<end>";
  return { text, closed };
}

function cat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bs = parts.map((p) => typeof p === "string" ? latin1Bytes(p) : p);
  const out = new Uint8Array(bs.reduce((s, b) => s + b.length, 0));
  let at = 0;
  for (const b of bs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const VALID = [
  ["PING"],
  ["ECHO", "hi"],
  ["SET", "pk", "v"],
  ["GET", "pk"],
  ["DEL", "pk"],
  ["INCR", "pc"],
  ["MGET", "pk", "pc"],
  ["EXISTS", "pk"],
];

/** Fixed malformed frames: the cases every parser must get right. */
export const TEMPLATES: string[] = [
  "*abc\r\n",
  "*-1\r\n",
  "*-2\r\n",
  "*0\r\n",
  "*1\r\n$-1\r\n",
  "*1\r\n$-2\r\n",
  "*1\r\n$abc\r\n",
  "*1\r\nfoo\r\n",
  "*1\r\n:1\r\n",
  "*1\r\n*1\r\n$4\r\nPING\r\n",
  "*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n",
  "*1\r\n+PING\r\n",
  "*1\r\n$4\r\nPINGxx",
  "*1\r\n$4\r\nPING\n\n",
  "*1\r\n$4\r\nPING\r\r",
  "*1\r\n$5\r\nPING\r\n",
  "*1\r\n$3\r\nPING\r\n",
  "*1\r\n$1 \r\nx\r\n",
  "*1\r\n$+4\r\nPING\r\n",
  "*1\r\n$04\r\nPING\r\n",
  "*01\r\n$4\r\nPING\r\n",
  "*+1\r\n$4\r\nPING\r\n",
  "* 1\r\n$4\r\nPING\r\n",
  "*1 \r\n$4\r\nPING\r\n",
  "*1\n$4\r\nPING\r\n",
  "*1\r\n$4\nPING\r\n",
  "*1048576\r\n",
  "*1048577\r\n",
  "*2147483647\r\n",
  "*2147483648\r\n",
  "*9223372036854775807\r\n",
  "*9223372036854775808\r\n",
  "*99999999999999999999\r\n",
  "*1\r\n$536870912\r\n",
  "*1\r\n$536870913\r\n",
  "*1\r\n$2147483648\r\n",
  "*1\r\n$9223372036854775808\r\n",
  "*\r\n",
  "*1\r\n$\r\n",
  "*-\r\n",
  "$4\r\nPING\r\n",
  ":1\r\n",
  "+PING\r\n",
  "-ERR\r\n",
  "PING\r\n",
  "PING\n",
  "PING\r",
  "ping   \r\n",
  "   ping\r\n",
  "\r\n",
  "\n",
  "\r\n\r\nPING\r\n",
  'ECHO "a b"\r\n',
  "ECHO 'a b'\r\n",
  'ECHO "a\r\n',
  "ECHO 'a\r\n",
  'ECHO "a"b\r\n',
  "ECHO 'a'b\r\n",
  'ECHO "\\x41\\x4"\r\n',
  'ECHO "\\x4g"\r\n',
  'ECHO "\\n\\t\\r\\b\\a\\\\\\""\r\n',
  "ECHO 'it\\'s'\r\n",
  'ECHO ""\r\n',
  "ECHO ''\r\n",
  'ECHO "a" "b"\r\n',
  'SET "pk" "v v"\r\nGET pk\r\n',
  "\x00\r\n",
  "\x00PING\r\n",
  "PI\x00NG\r\n",
  "*1\r\n$4\r\nPI\x00G\r\n",
  "*3\r\n$3\r\nSET\r\n$2\r\npk\r\n$-1\r\n",
  "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
  "*2\r\n$4\r\nECHO\r\n$0\r\nxx",
  "*1\r\n$0\r\n\r\n",
  "*1\r\n\r\n",
  "*1\r\n$4\r\n",
  "*1\r\n",
  "*",
  "*1",
  "*1\r",
  "$",
  "\r",
  "quit\r\n",
  "*1\r\n$4\r\nQUIT\r\nPING\r\n",
  "MULTI\r\nPING\r\n*1\r\n$-5\r\n",
  "MULTI\r\n*abc\r\n",
  "a".repeat(70_000),
  "*" + "1".repeat(70_000),
  "*1\r\n$" + "1".repeat(70_000),
  "ECHO " + "a".repeat(70_000) + "\r\n",
];

/** One random case. */
export function randomCase(rng: Rng): { kind: string; bytes: Uint8Array } {
  const roll = rng.int(10);
  if (roll < 3) return { kind: "template", bytes: latin1Bytes(rng.pick(TEMPLATES)) };
  if (roll < 5) {
    // Two templates back to back, or a valid command then a template.
    const first = rng.chance(0.5)
      ? latin1Bytes(rng.pick(TEMPLATES))
      : encodeCommand(rng.pick(VALID));
    return { kind: "pair", bytes: cat(first, rng.pick(TEMPLATES)) };
  }
  if (roll < 8) {
    // A valid frame with a few bytes changed (to CR, LF, digits, type bytes or anything).
    const bytes = encodeCommand(rng.pick(VALID)).slice();
    const flips = 1 + rng.int(3);
    for (let i = 0; i < flips; i++) {
      bytes[rng.int(bytes.length)] = rng.chance(0.6)
        ? rng.pick([13, 10, 0x2a, 0x24, 0x2d, 0x30, 0x31, 0x39, 0x20, 0x22, 0x27, 0])
        : rng.int(256);
    }
    return { kind: "mutated", bytes };
  }
  if (roll < 9) {
    // An inline line of words and quote characters.
    const parts = [
      "ECHO",
      "PING",
      '"',
      "'",
      "a",
      '\\"',
      "\\x41",
      '"a b"',
      "'a b'",
      " ",
      "\t",
      "\\",
    ];
    let s = rng.chance(0.5) ? "ECHO " : "";
    for (let i = 0; i < 1 + rng.int(6); i++) s += rng.pick(parts);
    return { kind: "inline", bytes: latin1Bytes(s + rng.pick(["\r\n", "\n"])) };
  }
  // A valid frame cut short, or with a CRLF dropped.
  const bytes = encodeCommand(rng.pick(VALID));
  if (rng.chance(0.5)) return { kind: "cut", bytes: bytes.subarray(0, rng.int(bytes.length)) };
  const s = latin1.decode(bytes);
  const crlfs = [...s.matchAll(/\r\n/g)].map((m) => m.index!);
  const at = rng.pick(crlfs);
  return { kind: "crlf", bytes: latin1Bytes(s.slice(0, at) + s.slice(at + 2)) };
}

/** A server keeps answering a PING on its own connection. */
async function alive(port: number): Promise<boolean> {
  try {
    const t = await exchange(port, encodeCommand(["PING"]), 5000);
    return t.text === "+PONG\r\n<end>";
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const flags = parseArgs(Deno.args, {
    string: ["ours", "redis", "seed", "cases", "idle-ms"],
    boolean: ["templates"],
  });
  const ours = Number(flags.ours ?? 7900);
  const redis = Number(flags.redis ?? 7901);
  const seed = Number(flags.seed ?? 1);
  const idleMs = Number(flags["idle-ms"] ?? 400);
  const rng = new Rng(seed);
  const cases = flags.templates
    ? TEMPLATES.map((t) => ({ kind: "template", bytes: latin1Bytes(t) }))
    : Array.from({ length: Number(flags.cases ?? 300) }, () => randomCase(rng));
  const seen = new Set<string>();
  let divergent = 0;
  for (const [i, c] of cases.entries()) {
    // The same keyspace before every case: a case one server stops reading early (a NUL byte
    // before a line's end leaves Redis waiting) must not change what the next one sees.
    const flush = encodeCommand(["FLUSHALL"]);
    await Promise.all([exchange(ours, flush, idleMs), exchange(redis, flush, idleMs)]);
    const [o, t] = await Promise.all([
      exchange(ours, c.bytes, idleMs),
      exchange(redis, c.bytes, idleMs),
    ]);
    if (o.text !== t.text || o.closed !== t.closed) {
      divergent++;
      const key = JSON.stringify([o.text.slice(0, 60), t.text.slice(0, 60), o.closed, t.closed]);
      if (!seen.has(key)) {
        seen.add(key);
        console.log(`case ${i} (${c.kind}) ${JSON.stringify(latin1.decode(c.bytes))}`);
        console.log(`  ours:   ${JSON.stringify(o.text)}${o.closed ? " [closed]" : ""}`);
        console.log(`  theirs: ${JSON.stringify(t.text)}${t.closed ? " [closed]" : ""}`);
      }
    }
    if (!(await alive(ours))) {
      console.log(`case ${i}: CityHall stopped answering PING on a fresh connection`);
      Deno.exit(1);
    }
  }
  console.log(
    `${cases.length} cases, seed ${seed}: ${divergent} divergent (${seen.size} distinct)`,
  );
}
