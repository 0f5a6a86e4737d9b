/**
 * Scenario comparison with a real redis-server: the same steps, each sent on a named connection,
 * run against both servers; each connection's received bytes are compared.
 *
 * After every step each open connection is synchronised with a `PING __sync_<n>__` whose reply
 * (plain, RESP3, or subscribe-mode `*2 pong …`) is cut out of the transcript, so everything a
 * step caused (replies, messages pushed to other connections) has arrived before the next step,
 * without timed waits. Monitor transcripts drop the sentinel lines the same way.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { command, startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";

const decoder = new TextDecoder("latin1");

/** One step: `conn` sends `args`; `noSync` (written `A!:`) skips the sentinels after it. */
export interface Step {
  conn: string;
  args: Uint8Array[];
  noSync: boolean;
}

/**
 * Parses `"A: set k v"` lines (shell-like quoting with "" and '') into steps; `A!: cmd` sends
 * without synchronising afterwards (for commands whose effect a sentinel would disturb, such
 * as a slow log about to be read). `~: sleep MS` waits (so that a `px 1` key has certainly
 * expired on both servers, whatever the speed of the steps in between).
 */
export function steps(text: string): Step[] {
  const out: Step[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    let conn = line.slice(0, colon).trim();
    const noSync = conn.endsWith("!");
    if (noSync) conn = conn.slice(0, -1);
    out.push({ conn, args: splitWords(line.slice(colon + 1)), noSync });
  }
  return out;
}

/** Latin-1 bytes of `s` (one byte per character, so `\xff` stays one byte). */
function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff);
}

/** Resolves redis-cli style escapes of a double-quoted word: `\xHH \n \r \t \\ \"`. */
function unescape(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    if (e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    return e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
  });
}

function splitWords(s: string): Uint8Array[] {
  const words: Uint8Array[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of s.matchAll(re)) {
    if (m[1] !== undefined) words.push(latin1(unescape(m[1])));
    else words.push(latin1(m[2] ?? m[3]!));
  }
  return words;
}

interface Conn {
  conn: Deno.Conn;
  text: string;
  closed: boolean;
  /** Between MULTI and EXEC/DISCARD/RESET a sentinel would be queued: none is sent. */
  inMulti: boolean;
  pump: Promise<void>;
}

function open(port: number): Promise<Conn> {
  return Deno.connect({ hostname: "127.0.0.1", port }).then((conn) => {
    const c: Conn = { conn, text: "", closed: false, inMulti: false, pump: Promise.resolve() };
    c.pump = (async () => {
      const buf = new Uint8Array(65536);
      try {
        while (true) {
          const n = await conn.read(buf);
          if (n === null) break;
          c.text += decoder.decode(buf.subarray(0, n));
        }
      } catch {
        // Reset by the peer, or closed by us.
      }
      c.closed = true;
    })();
    return c;
  });
}

async function waitFor(c: Conn, done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (c.closed) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(c.text)}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Regexes matching one sentinel reply in any of its shapes, and monitor lines of sentinels. */
const SENTINEL = [
  /\*2\r\n\$4\r\npong\r\n\$\d+\r\n__sync_\d+__\r\n/g,
  /\$\d+\r\n__sync_\d+__\r\n/g,
  /\+[0-9.]+ \[0 [^\]]*\] "ping" "__sync_\d+__"\r\n/g,
];

/** Runs `list` against the server on `port`; returns each connection's transcript. */
export async function runSteps(port: number, list: Step[]): Promise<Map<string, string>> {
  const conns = new Map<string, Conn>();
  let sync = 0;
  try {
    for (const step of list) {
      if (step.conn === "~") {
        await new Promise((r) => setTimeout(r, Number(decoder.decode(step.args[1]))));
        continue;
      }
      let c = conns.get(step.conn);
      if (c === undefined) conns.set(step.conn, c = await open(port));
      const name = step.args[0] === undefined ? "" : decoder.decode(step.args[0]).toLowerCase();
      if (name === "multi") c.inMulti = true;
      if (name === "exec" || name === "discard" || name === "reset") c.inMulti = false;
      if (step.args.length > 0 && !c.closed) {
        try {
          await c.conn.write(command(...step.args));
        } catch {
          c.closed = true;
        }
      }
      // The acting connection first: what its command caused elsewhere is then queued before
      // the other connections' sentinels.
      if (step.noSync) continue;
      const order = [c, ...[...conns.values()].filter((o) => o !== c)];
      for (const other of order) {
        if (other.closed || other.inMulti) continue;
        const tag = `__sync_${++sync}__`;
        try {
          await other.conn.write(command("PING", tag));
        } catch {
          other.closed = true;
          continue;
        }
        await waitFor(other, () => other.text.includes(tag + "\r\n"), tag);
      }
    }
  } finally {
    for (const c of conns.values()) {
      try {
        c.conn.close();
      } catch {
        // Closed by the server.
      }
      await c.pump;
    }
  }
  const out = new Map<string, string>();
  for (const [name, c] of conns) {
    let t = c.text;
    for (const re of SENTINEL) t = t.replace(re, "");
    out.set(name, t);
  }
  return out;
}

/** Replacements applied to both transcripts before comparing (ids, ports, times). */
export type Normalizer = (text: string) => string;

/** Masks what always differs between two servers: ports, client ids, times, versions. */
export const STANDARD_NORMALIZER: Normalizer = (t) =>
  t.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
    .replace(/\+\d{10}\.\d{6} /g, "+TIME ")
    .replace(/\$\d+\r\n7\.\d+\.\d+\r\n/g, "$V\r\nVERSION\r\n")
    .replace(/\$2\r\nid\r\n:\d+\r\n/g, "$2\r\nid\r\n:ID\r\n");

/** Runs `text` against CityHall and redis-server and compares every connection's transcript. */
export async function compareScenario(
  name: string,
  text: string,
  normalize: (t: string) => string = STANDARD_NORMALIZER,
): Promise<void> {
  const list = steps(text);
  const t = await startTestServer();
  const redis = await startRedisServer();
  try {
    const ours = await runSteps(t.port, list);
    const theirs = await runSteps(redis.port, list);
    for (const [conn, text] of theirs) {
      assertEquals(
        normalize(ours.get(conn) ?? ""),
        normalize(text),
        `${name}: connection ${conn} differs from redis-server`,
      );
    }
  } finally {
    await redis.stop();
    await t.close();
  }
}
