/**
 * A RESP load generator for time series, run as its own process so that it does not share the
 * server's event loop (like bench/loadgen.ts for SET/GET):
 *
 *   deno run --allow-net bench/ts_loadgen.ts --port=7878 --command=madd --connections=50 \
 *     --samples=2000000 --batch=500 --series=20 --start-ms=1700000000000 --step-ms=1000
 *
 * Each connection writes its own series (`bench:<connection>:<series>`, `--series` of them)
 * in time order, `--step-ms` apart: `madd` sends one TS.MADD of `--batch` samples (round robin
 * over its series) and waits for the reply, `add` sends one TS.ADD at a time (pipeline 1);
 * `--interval-ms` paces each connection (e.g. one batch per second: real-time 1 Hz).
 * Every reply is checked: TS.MADD must answer an array of `--batch` integers, TS.ADD an
 * integer; an error reply fails the run. Values are sensor-like decimals (2 digits).
 *
 * Prints one JSON `TsLoadResult` on stdout.
 *
 * @module
 */

import { writeDigits } from "../src/util/bytes.ts";

/** What to run. */
export interface TsLoadOptions {
  hostname?: string;
  port: number;
  command: "madd" | "add";
  connections: number;
  /** Samples over all connections. */
  samples: number;
  /** Samples per TS.MADD. */
  batch: number;
  /** Series per connection. */
  series: number;
  /** Timestamp of every series' first sample. */
  startMs: number;
  /** Milliseconds between one series' samples. */
  stepMs: number;
  /** Least milliseconds between two commands of one connection (0 = as fast as possible). */
  intervalMs?: number;
}

/** What a run measured. */
export interface TsLoadResult {
  command: string;
  samples: number;
  commands: number;
  seconds: number;
  samplesPerSec: number;
  commandsPerSec: number;
  /** Bytes sent per sample. */
  bytesPerSample: number;
}

const CR = 13;
const LF = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Appends a RESP command of ASCII `args` to `parts`. */
function encode(args: string[]): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${a.length}\r\n${a}\r\n`;
  return s;
}

/** A connection's reused request buffer and the frame of the timestamp it wrote last. */
interface MaddScratch {
  buf: Uint8Array;
  tsFrame: Uint8Array;
  tsLength: number;
  ts: number;
}

/**
 * A TS.MADD of `count` samples from sample `n` of connection `c` as RESP bytes, written
 * straight into the connection's reused buffer (no string per argument: at a million samples
 * a second the generator must not cost more than the server, and on a two-core machine every
 * microsecond it spends is taken from the server). The samples: per connection `c`,
 * key round-robin, timestamps `stepMs` apart, values `20 + x / 100` with two decimals. One
 * round of the series shares a timestamp, so its frame is built once per round and copied.
 * The view returned is valid until the next call for the same scratch.
 */
function maddBytes(
  scratch: MaddScratch,
  frames: Uint8Array[],
  count: number,
  n: number,
  c: number,
  o: TsLoadOptions,
  head: Uint8Array = enc.encode(`*${1 + 3 * count}\r\n$7\r\nTS.MADD\r\n`),
): Uint8Array {
  let longest = 0;
  for (const f of frames) longest = Math.max(longest, f.length);
  const need = head.length + count * (longest + 48);
  if (scratch.buf.length < need) scratch.buf = new Uint8Array(need);
  const buf = scratch.buf;
  buf.set(head);
  let p = head.length;
  const series = frames.length;
  const tsFrame = scratch.tsFrame;
  for (let i = 0; i < count; i++, n++) {
    const frame = frames[n % series]!;
    for (let k = 0; k < frame.length; k++) buf[p + k] = frame[k]!;
    p += frame.length;
    const ts = o.startMs + Math.floor(n / series) * o.stepMs;
    if (ts !== scratch.ts) {
      let d = 1;
      for (let q = 10; q <= ts; q *= 10) d++;
      let t = 0;
      tsFrame[t++] = 36; // $
      t = writeDigits(tsFrame, t, d);
      tsFrame[t++] = 13;
      tsFrame[t++] = 10;
      t = writeDigits(tsFrame, t, ts);
      tsFrame[t++] = 13;
      tsFrame[t++] = 10;
      scratch.tsLength = t;
      scratch.ts = ts;
    }
    const tsLength = scratch.tsLength;
    for (let k = 0; k < tsLength; k++) buf[p + k] = tsFrame[k]!;
    p += tsLength;
    const x = (n * 7919 + c * 104_729) % 2000; // value 20 + x / 100: "DD.dd"
    const int = 20 + Math.floor(x / 100);
    const frac = x % 100;
    buf[p++] = 36;
    buf[p++] = 53; // 5 bytes
    buf[p++] = 13;
    buf[p++] = 10;
    buf[p++] = 48 + Math.floor(int / 10);
    buf[p++] = 48 + (int % 10);
    buf[p++] = 46;
    buf[p++] = 48 + Math.floor(frac / 10);
    buf[p++] = 48 + (frac % 10);
    buf[p++] = 13;
    buf[p++] = 10;
  }
  return buf.subarray(0, p);
}

/** The head of a TS.ADD request (its three arguments are a TS.MADD sample's). */
const ADD_HEAD = enc.encode("*4\r\n$6\r\nTS.ADD\r\n");

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Reads one reply: `:int` when `items` is 0, else an array of `items` integers. Throws on an
 * error reply or anything else. `state` carries bytes already read past the previous reply.
 */
async function readReply(
  conn: Deno.Conn,
  state: { buf: Uint8Array; start: number; end: number },
  items: number,
): Promise<void> {
  let lines = items === 0 ? 1 : items + 1;
  let lineStart = state.start;
  let first = true;
  for (;;) {
    const buf = state.buf;
    for (let i = state.start; i + 1 < state.end; i++) {
      if (buf[i] !== CR || buf[i + 1] !== LF) continue;
      const type = buf[lineStart]!;
      const ok = first && items > 0 ? type === 0x2a : type === 0x3a;
      if (!ok) {
        throw new Error(`unexpected reply line ${dec.decode(buf.subarray(lineStart, i))}`);
      }
      first = false;
      lineStart = i + 2;
      state.start = i + 2;
      i++;
      if (--lines === 0) return;
    }
    // Keep the partial line; read more.
    if (lineStart > 0) {
      buf.copyWithin(0, lineStart, state.end);
      state.end -= lineStart;
      state.start -= lineStart;
      lineStart = 0;
    }
    if (state.end + 4096 > buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf.subarray(0, state.end));
      state.buf = bigger;
    }
    const n = await conn.read(state.buf.subarray(state.end));
    if (n === null) throw new Error("server closed the connection");
    state.end += n;
  }
}

/** Runs the load and returns the rate; connections answer PING before the clock starts. */
export async function runTsLoad(o: TsLoadOptions): Promise<TsLoadResult> {
  const conns: Deno.TcpConn[] = [];
  try {
    for (let c = 0; c < o.connections; c++) {
      const conn = await Deno.connect({ hostname: o.hostname ?? "127.0.0.1", port: o.port });
      conn.setNoDelay(true);
      conns.push(conn);
    }
    await Promise.all(conns.map(async (conn) => {
      await writeAll(conn, enc.encode("*1\r\n$4\r\nPING\r\n"));
      const b = new Uint8Array(64);
      let got = "";
      while (!got.endsWith("\r\n")) {
        const n = await conn.read(b);
        if (n === null) throw new Error("connection closed before answering PING");
        got += dec.decode(b.subarray(0, n));
      }
    }));
    // Every series exists before the clock starts (TS.MADD does not create series).
    await Promise.all(conns.map(async (conn, c) => {
      let text = "";
      for (let j = 0; j < o.series; j++) {
        text += encode(["TS.CREATE", `bench:${c}:${j}`, "LABELS", "conn", String(c)]);
      }
      await writeAll(conn, enc.encode(text));
      let got = "";
      const b = new Uint8Array(64 * 1024);
      while (got.split("\r\n").length - 1 < o.series) {
        const n = await conn.read(b);
        if (n === null) throw new Error("connection closed during TS.CREATE");
        got += dec.decode(b.subarray(0, n));
      }
      for (const line of got.split("\r\n").slice(0, o.series)) {
        if (line !== "+OK" && line !== "-ERR TSDB: key already exists") {
          throw new Error(`TS.CREATE answered ${line}`);
        }
      }
    }));
    const perConn = Math.ceil(o.samples / o.connections);
    let sent = 0;
    let commands = 0;
    let bytes = 0;
    let failure: Error | undefined;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (conn, c) => {
        const keys = Array.from({ length: o.series }, (_, j) => `bench:${c}:${j}`);
        const state = { buf: new Uint8Array(64 * 1024), start: 0, end: 0 };
        const frames = keys.map((k) => enc.encode(`$${k.length}\r\n${k}\r\n`));
        // Reused: each request is written out before the next one is built.
        const scratch = {
          buf: new Uint8Array(0),
          tsFrame: new Uint8Array(48),
          tsLength: 0,
          ts: -1,
        };
        let n = 0;
        const started = performance.now();
        let sentCommands = 0;
        while (failure === undefined && n < perConn) {
          if (o.intervalMs) {
            const due = started + sentCommands * o.intervalMs - performance.now();
            if (due > 0) await new Promise((r) => setTimeout(r, due));
          }
          sentCommands++;
          const count = o.command === "madd" ? Math.min(o.batch, perConn - n) : 1;
          let out: Uint8Array;
          if (o.command === "madd") {
            out = maddBytes(scratch, frames, count, n, c, o);
            n += count;
          } else {
            // The same key, timestamp and value bytes as TS.MADD's, written the same way: the
            // generator's cost per TS.ADD stays that of loadgen.ts per SET (a string and an
            // encode per command cost ~3-5 us more here, taken from the server on 2 cores).
            out = maddBytes(scratch, frames, 1, n, c, o, ADD_HEAD);
            n++;
          }
          bytes += out.length;
          await writeAll(conn, out);
          await readReply(conn, state, o.command === "madd" ? count : 0);
          sent += count;
          commands++;
        }
      }).map((p) => p.catch((err) => void (failure ??= err))),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (failure !== undefined) throw failure;
    return {
      command: o.command,
      samples: sent,
      commands,
      seconds,
      samplesPerSec: sent / seconds,
      commandsPerSec: commands / seconds,
      bytesPerSample: bytes / sent,
    };
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/** Runs the generator as its own process and returns its result. */
export async function runTsLoadProcess(
  o: TsLoadOptions,
  timeoutMs = 300_000,
): Promise<TsLoadResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--no-prompt",
      new URL(import.meta.url).pathname,
      ...Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) =>
        `--${k.replace(/[A-Z]/g, (m) => "-" + m.toLowerCase())}=${v}`
      ),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  if (!out.success) throw new Error(`ts load generator failed: ${dec.decode(out.stderr).trim()}`);
  return JSON.parse(dec.decode(out.stdout)) as TsLoadResult;
}

function parseArgs(argv: string[]): TsLoadOptions {
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`bad argument ${a} (use --name=value)`);
    flags.set(m[1]!, m[2]!);
  }
  const num = (name: string, dflt: number) => {
    const v = flags.has(name) ? Number(flags.get(name)) : dflt;
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
    return v;
  };
  const command = flags.get("command") ?? "madd";
  if (command !== "madd" && command !== "add") throw new Error("--command must be madd or add");
  return {
    hostname: flags.get("hostname") ?? "127.0.0.1",
    port: num("port", 7878),
    command,
    connections: num("connections", 50),
    samples: num("samples", 1_000_000),
    batch: num("batch", 500),
    series: num("series", 20),
    startMs: num("start-ms", 1_700_000_000_000),
    stepMs: num("step-ms", 1000),
    intervalMs: flags.has("interval-ms") ? num("interval-ms", 1) : 0,
  };
}

if (import.meta.main) {
  try {
    console.log(JSON.stringify(await runTsLoad(parseArgs(Deno.args))));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
