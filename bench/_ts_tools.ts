/**
 * Helpers of the time-series benchmarks (bench/timeseries.ts): a RESP client that times big
 * replies without building them, Prometheus TSDB sizes through promtool, time-ordered TS.MADD
 * batches of generated series, directory sizes and /proc memory figures.
 *
 * @module
 */

import type { SampleIn } from "../src/timeseries/mod.ts";
import type { SensorSeries } from "../tests/_helpers/sensors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The `p` quantile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Total bytes of the files under `dir`, and of those whose path matches `only`. */
export async function dirBytes(
  dir: string,
  only?: RegExp,
): Promise<{ all: number; matching: number }> {
  let all = 0;
  let matching = 0;
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const size = (await Deno.stat(p)).size;
        all += size;
        if (only?.test(p)) matching += size;
      }
    }
  };
  await walk(dir);
  return { all, matching };
}

/** The decimal integer in `buf[from, to)` (an optional `-`, then digits). */
function lineInt(buf: Uint8Array, from: number, to: number): number {
  const negative = buf[from] === 45;
  let n = 0;
  for (let i = negative ? from + 1 : from; i < to; i++) n = n * 10 + buf[i]! - 48;
  return negative ? -n : n;
}

/** Samples of every series in time order, in slices of `sliceMs`, as TS.MADD batches. */
export function* timeOrdered(series: SensorSeries[], keys: Uint8Array[], sliceMs: number) {
  const at = series.map(() => 0);
  let t = Math.min(...series.map((s) => s.ts[0] ?? Infinity));
  const end = Math.max(...series.map((s) => s.ts.at(-1) ?? 0));
  while (t <= end) {
    t += sliceMs;
    const batch: SampleIn[] = [];
    series.forEach((s, i) => {
      while (at[i]! < s.ts.length && s.ts[at[i]!]! < t) {
        batch.push({ key: keys[i]!, ts: s.ts[at[i]!]!, value: s.values[at[i]!]! });
        at[i]!++;
      }
    });
    if (batch.length > 0) yield batch;
  }
}

/** Elements still expected and integers seen by `scanReply`. */
interface ScanState {
  pending: number;
  integers: number;
}

/**
 * Walks the complete RESP lines of `buf[pos, end)` until the reply is whole (`pending` 0) or
 * the buffered bytes end; returns where the first unparsed line starts. Replies carry no bare
 * CR: the first CR ends a line. Lines are found by a plain byte loop in a function of its own:
 * a native `indexOf` per line costs a call into the runtime for each of the ~1,000,000 lines of
 * a 300,000-point reply, and this client's share of the measured latency (it runs in the
 * server's process) was then larger than the server's; a TextDecoder per line cost more still.
 */
function scanReply(buf: Uint8Array, pos: number, end: number, state: ScanState): number {
  let pending = state.pending;
  let integers = state.integers;
  while (pending > 0) {
    let cr = pos + 1;
    while (cr < end && buf[cr] !== 13) cr++;
    if (cr + 1 >= end) break;
    const type = buf[pos]!;
    if (type === 0x3a) { // :
      integers++;
      pos = cr + 2;
      pending--;
    } else if (type === 0x24) { // $
      const n = lineInt(buf, pos + 1, cr);
      if (n >= 0 && end < cr + 2 + n + 2) break;
      pos = n >= 0 ? cr + 2 + n + 2 : cr + 2;
      pending--;
    } else if (type === 0x2a || type === 0x25) { // * or %
      const n = lineInt(buf, pos + 1, cr);
      pos = cr + 2;
      pending += -1 + Math.max(0, n) * (type === 0x25 ? 2 : 1);
    } else if (type === 0x2d) {
      throw new Error(dec.decode(buf.subarray(pos, cr)));
    } else {
      pos = cr + 2;
      pending--;
    }
  }
  state.pending = pending;
  state.integers = integers;
  return pos;
}

/**
 * A minimal RESP client for timing big replies: it sends a command and reads until the whole
 * reply has arrived, counting its integers (the points' timestamps) without building it (the
 * CLI's client builds every element, which dominates the time of a 300,000-point reply).
 */
export class RawClient {
  #buf = new Uint8Array(1 << 20);
  private constructor(private readonly conn: Deno.TcpConn) {}

  static async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new RawClient(conn);
  }

  /** Sends `args`; resolves when the reply is complete, with its size and integer count. */
  async command(args: string[]): Promise<{ bytes: number; integers: number }> {
    let text = `*${args.length}\r\n`;
    for (const a of args) text += `$${enc.encode(a).length}\r\n${a}\r\n`;
    const out = enc.encode(text);
    for (let off = 0; off < out.length;) off += await this.conn.write(out.subarray(off));
    let buf = this.#buf;
    let end = 0;
    let pos = 0;
    let bytes = 0;
    const state: ScanState = { pending: 1, integers: 0 };
    for (;;) {
      pos = scanReply(buf, pos, end, state);
      if (state.pending === 0) return { bytes: bytes + pos, integers: state.integers };
      // Keep the unparsed tail, read more.
      buf.copyWithin(0, pos, end);
      bytes += pos;
      end -= pos;
      pos = 0;
      if (end + 65536 > buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf.subarray(0, end));
        this.#buf = buf = bigger;
      }
      const got = await this.conn.read(buf.subarray(end));
      if (got === null) throw new Error("connection closed");
      end += got;
    }
  }

  close(): void {
    this.conn.close();
  }
}

/** What `WorkerClient` answers for one command. */
export interface TimedReply {
  /** Milliseconds from the command's first byte sent to its reply's last byte read. */
  ms: number;
  bytes: number;
  integers: number;
}

/**
 * A `RawClient` in a worker thread, as a user's client is a process of its own: when the server
 * runs in the benchmark's process, reading a 10 MB reply on the server's thread would add the
 * client's own work to the server's latency and hold up the server's writes meanwhile.
 */
export class WorkerClient {
  readonly #worker: Worker;
  #waiting: ((data: Record<string, unknown>) => void) | undefined;

  private constructor() {
    this.#worker = new Worker(new URL("./_raw_client_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (e: MessageEvent) => {
      const resolve = this.#waiting;
      this.#waiting = undefined;
      resolve?.(e.data);
    };
  }

  static async connect(port: number): Promise<WorkerClient> {
    const c = new WorkerClient();
    await c.#ask({ connect: port });
    return c;
  }

  /** Sends `args` from the worker; resolves with the time the worker measured. */
  async command(args: string[]): Promise<TimedReply> {
    const r = await this.#ask({ command: args });
    return { ms: r.ms as number, bytes: r.bytes as number, integers: r.integers as number };
  }

  async close(): Promise<void> {
    await this.#ask({ close: true });
    this.#worker.terminate();
  }

  #ask(msg: unknown): Promise<Record<string, unknown>> {
    if (this.#waiting !== undefined) throw new Error("one command at a time");
    return new Promise((resolve, reject) => {
      this.#waiting = (data) => {
        if (data.ok) resolve(data);
        else reject(new Error(String(data.error)));
      };
      this.#worker.postMessage(msg);
    });
  }
}

async function promtoolVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("promtool", { args: ["--version"], stderr: "piped" })
      .output();
    const text = dec.decode(out.stdout) + dec.decode(out.stderr);
    return /version (\S+)/.exec(text)?.[1] ?? "unknown";
  } catch {
    return undefined;
  }
}

/** Prometheus TSDB bytes for `series` via promtool, or why not. */
export async function prometheusBytes(
  series: SensorSeries[],
  tmp: string,
): Promise<{ all: number; chunks: number; blocks: number; version: string } | string> {
  const version = await promtoolVersion();
  if (version === undefined) return "promtool not on PATH (Debian: apt-get install prometheus)";
  const file = `${tmp}/samples.om`;
  const out = await Deno.open(file, { write: true, create: true, truncate: true });
  try {
    let text = "# HELP sensor A sensor reading.\n# TYPE sensor gauge\n";
    for (const s of series) {
      const labels = `{name="${s.name}",kind="${s.kind}"}`;
      for (let i = 0; i < s.ts.length; i++) {
        text += `sensor${labels} ${s.values[i]} ${(s.ts[i]! / 1000).toFixed(3)}\n`;
        if (text.length > 1 << 20) {
          await out.write(enc.encode(text));
          text = "";
        }
      }
    }
    text += "# EOF\n";
    await out.write(enc.encode(text));
  } finally {
    out.close();
  }
  const blocks = `${tmp}/prometheus`;
  const run = await new Deno.Command("promtool", {
    args: ["tsdb", "create-blocks-from", "openmetrics", "--quiet", file, blocks],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(file);
  if (!run.success) return `promtool failed: ${dec.decode(run.stderr).trim().slice(0, 200)}`;
  const bytes = await dirBytes(blocks, /\/chunks\//);
  let count = 0;
  for await (const e of Deno.readDir(blocks)) if (e.isDirectory) count++;
  return { all: bytes.all, chunks: bytes.matching, blocks: count, version };
}

/** VmRSS and VmHWM of process `pid`, in bytes. */
export function status(pid: number): { rss: number; hwm: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}
