/**
 * A pipelined RESP load generator over `Deno.connect`: `connections` clients each send
 * `pipeline` commands in one write, then read and check every reply before sending the next
 * group. SET must answer `+OK`; GET must answer the exact value the SET phase stored for that
 * key. Any other reply (an `-ERR …`, a wrong value, a missing key) fails the run.
 *
 * Used in-process by bench/server.ts through `runLoad`, or as its own process (so it does not
 * share the server's event loop):
 *
 *   deno run --allow-net bench/loadgen.ts --port 7878 --command set --connections 50 \
 *     --pipeline 16 --requests 500000 --keyspace 100000 --value-size 100
 *
 * which prints one JSON `LoadResult` on stdout.
 *
 * @module
 */

/** What to run. */
export interface LoadOptions {
  /** Server address (default 127.0.0.1). */
  hostname?: string;
  port: number;
  command: "set" | "get";
  /** Concurrent connections. */
  connections: number;
  /** Commands in flight per connection (sent in one write). */
  pipeline: number;
  /** Total commands over all connections. */
  requests: number;
  /** Keys are `key:` + a zero-padded index below this. */
  keyspace: number;
  /** Bytes per value (at least 12, so the value can name its key). */
  valueSize: number;
}

/** What a run measured. */
export interface LoadResult {
  command: "set" | "get";
  requests: number;
  seconds: number;
  opsPerSec: number;
}

const KEY_DIGITS = 10;
const CR = 13;
const LF = 10;
/** Least free space offered to each socket read. */
const READ_MIN = 16 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Writes the value of key `index` into `dst` (`valueSize` bytes): the index, then filler. */
function fillValue(dst: Uint8Array, at: number, index: number, valueSize: number): void {
  const digits = String(index).padStart(KEY_DIGITS, "0");
  for (let i = 0; i < KEY_DIGITS; i++) dst[at + i] = digits.charCodeAt(i);
  dst[at + KEY_DIGITS] = 0x2d; // '-'
  for (let i = KEY_DIGITS + 1; i < valueSize; i++) dst[at + i] = 0x61 + ((index + i) % 26);
}

/** Writes the zero-padded index into `dst` at `at`. */
function fillKey(dst: Uint8Array, at: number, index: number): void {
  let n = index;
  for (let i = KEY_DIGITS - 1; i >= 0; i--) {
    dst[at + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
}

/** A command template with the offsets of its key digits and value. */
interface Template {
  bytes: Uint8Array;
  keyAt: number;
  valueAt: number;
}

function template(command: "set" | "get", valueSize: number): Template {
  const key = "key:" + "0".repeat(KEY_DIGITS);
  const head = command === "set"
    ? `*3\r\n$3\r\nSET\r\n$${key.length}\r\n`
    : `*2\r\n$3\r\nGET\r\n$${key.length}\r\n`;
  const keyAt = head.length + 4; // after "key:"
  const tail = command === "set" ? `${key}\r\n$${valueSize}\r\n` : `${key}\r\n`;
  const valueAt = head.length + tail.length;
  const text = command === "set" ? head + tail + "v".repeat(valueSize) + "\r\n" : head + tail;
  return { bytes: enc.encode(text), keyAt, valueAt };
}

class ReplyError extends Error {}

/**
 * Incremental reader of the replies this generator expects: `+simple`, `-error`, `:int`,
 * `$len` bulk and `$-1` (and RESP3 `_`) null. Anything else is a protocol failure.
 */
class ReplyReader {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  /** Space to read into (at least `READ_MIN` bytes), compacting or growing the buffer. */
  writable(): Uint8Array {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#buf.length - this.#end < READ_MIN) {
      const live = this.#end - this.#start;
      if (live + READ_MIN <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const next = new Uint8Array(Math.max(this.#buf.length * 2, live + READ_MIN));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = live;
    }
    return this.#buf.subarray(this.#end);
  }

  commit(n: number): void {
    this.#end += n;
  }

  #lineEnd(from: number): number {
    const buf = this.#buf;
    for (let i = from; i + 1 < this.#end; i++) {
      if (buf[i] === CR && buf[i + 1] === LF) return i;
    }
    return -1;
  }

  /**
   * Checks the next reply against `expectValue` (`undefined` = expect `+OK`); returns false
   * when the reply is not complete yet. Throws `ReplyError` on a wrong reply.
   */
  next(expect: { at: number; bytes: Uint8Array; length: number } | undefined): boolean {
    if (this.#start >= this.#end) return false;
    const buf = this.#buf;
    const type = buf[this.#start]!;
    const eol = this.#lineEnd(this.#start + 1);
    if (eol < 0) return false;
    const line = () => dec.decode(buf.subarray(this.#start + 1, eol));
    switch (type) {
      case 0x2b: // '+'
        if (
          expect !== undefined || eol - this.#start !== 3 || buf[this.#start + 1] !== 0x4f ||
          buf[this.#start + 2] !== 0x4b
        ) {
          throw new ReplyError(`unexpected reply +${line()}`);
        }
        this.#start = eol + 2;
        return true;
      case 0x2d: // '-'
        throw new ReplyError(`error reply -${line()}`);
      case 0x3a: // ':'
        throw new ReplyError(`unexpected integer reply :${line()}`);
      case 0x5f: // '_' RESP3 null
        throw new ReplyError("GET found no value (RESP3 null)");
      case 0x24: { // '$'
        const len = Number(line());
        if (len === -1) throw new ReplyError("GET found no value (null bulk)");
        if (!Number.isSafeInteger(len) || len < 0) {
          throw new ReplyError(`bad bulk length $${line()}`);
        }
        const dataAt = eol + 2;
        if (this.#end < dataAt + len + 2) return false;
        if (expect === undefined) throw new ReplyError(`expected +OK, got a bulk of ${len}`);
        if (len !== expect.length) {
          throw new ReplyError(`GET returned ${len} bytes, expected ${expect.length}`);
        }
        for (let i = 0; i < len; i++) {
          if (buf[dataAt + i] !== expect.bytes[expect.at + i]) {
            throw new ReplyError(
              `GET returned a wrong value: ${dec.decode(buf.subarray(dataAt, dataAt + len))}`,
            );
          }
        }
        if (buf[dataAt + len] !== CR || buf[dataAt + len + 1] !== LF) {
          throw new ReplyError("bulk not terminated by CRLF");
        }
        this.#start = dataAt + len + 2;
        return true;
      }
      default:
        throw new ReplyError(`unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }

  get buffered(): number {
    return this.#end - this.#start;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Runs `requests` commands over `connections` pipelined connections and returns the rate.
 * Connections are opened (and answer a PING) before the clock starts. Throws on any wrong
 * reply or connection failure.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { command, connections, pipeline, requests, keyspace, valueSize } = options;
  if (valueSize < KEY_DIGITS + 1) throw new Error(`valueSize must be at least ${KEY_DIGITS + 1}`);
  const hostname = options.hostname ?? "127.0.0.1";
  const conns: Deno.TcpConn[] = [];
  try {
    for (let c = 0; c < connections; c++) {
      const conn = await Deno.connect({ hostname, port: options.port });
      conn.setNoDelay(true);
      conns.push(conn);
    }
    // One round trip each so every connection is accepted and ready.
    await Promise.all(conns.map(async (conn) => {
      await writeAll(conn, enc.encode("*1\r\n$4\r\nPING\r\n"));
      const reply = new Uint8Array(64);
      let got = "";
      while (!got.endsWith("\r\n")) {
        const n = await conn.read(reply);
        if (n === null) throw new Error("connection closed before answering PING");
        got += dec.decode(reply.subarray(0, n));
      }
      if (got !== "+PONG\r\n") throw new Error(`PING answered ${JSON.stringify(got)}`);
    }));

    const tpl = template(command, valueSize);
    const cmdLen = tpl.bytes.length;
    let next = 0; // next request number, shared by all connections
    let failure: Error | undefined;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (conn) => {
        const out = new Uint8Array(cmdLen * pipeline);
        for (let i = 0; i < pipeline; i++) out.set(tpl.bytes, i * cmdLen);
        const expected = new Uint8Array(valueSize * pipeline);
        const reader = new ReplyReader();
        while (failure === undefined && next < requests) {
          const count = Math.min(pipeline, requests - next);
          const first = next;
          next += count;
          for (let i = 0; i < count; i++) {
            const index = (first + i) % keyspace;
            fillKey(out, i * cmdLen + tpl.keyAt, index);
            if (command === "set") fillValue(out, i * cmdLen + tpl.valueAt, index, valueSize);
            else fillValue(expected, i * valueSize, index, valueSize);
          }
          await writeAll(conn, out.subarray(0, count * cmdLen));
          let answered = 0;
          while (answered < count) {
            const expect = command === "set"
              ? undefined
              : { at: answered * valueSize, bytes: expected, length: valueSize };
            if (reader.next(expect)) {
              answered++;
              continue;
            }
            const n = await conn.read(reader.writable());
            if (n === null) {
              throw new Error(`server closed the connection with ${count - answered} replies due`);
            }
            reader.commit(n);
          }
          if (reader.buffered !== 0) throw new ReplyError("more replies than commands sent");
        }
      }).map((p) =>
        p.catch((err) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
        })
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (failure !== undefined) throw failure;
    return { command, requests, seconds, opsPerSec: requests / seconds };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  }
}

/**
 * Runs the load generator as its own process (`deno run --allow-net bench/loadgen.ts …`) and
 * returns its result; the process is killed after `timeoutMs`.
 */
export async function runLoadProcess(
  options: LoadOptions,
  timeoutMs = 120_000,
): Promise<LoadResult> {
  const args = [
    "run",
    "--allow-net",
    "--no-prompt",
    new URL(import.meta.url).pathname,
    `--hostname=${options.hostname ?? "127.0.0.1"}`,
    `--port=${options.port}`,
    `--command=${options.command}`,
    `--connections=${options.connections}`,
    `--pipeline=${options.pipeline}`,
    `--requests=${options.requests}`,
    `--keyspace=${options.keyspace}`,
    `--value-size=${options.valueSize}`,
  ];
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  if (!out.success) {
    throw new Error(`load generator failed: ${dec.decode(out.stderr).trim()}`);
  }
  return JSON.parse(dec.decode(out.stdout)) as LoadResult;
}

function parseFlags(argv: string[]): LoadOptions {
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
  const command = flags.get("command") ?? "set";
  if (command !== "set" && command !== "get") throw new Error("--command must be set or get");
  return {
    hostname: flags.get("hostname") ?? "127.0.0.1",
    port: num("port", 7878),
    command,
    connections: num("connections", 50),
    pipeline: num("pipeline", 1),
    requests: num("requests", 100_000),
    keyspace: num("keyspace", 100_000),
    valueSize: num("value-size", 100),
  };
}

if (import.meta.main) {
  try {
    const result = await runLoad(parseFlags(Deno.args));
    console.log(JSON.stringify(result));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
