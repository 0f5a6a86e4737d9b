/**
 * CPU time per command of the server's own path for redis-benchmark's type tests (issue 14),
 * measured in process: a real `startServer` over a real database, whose listener hands out
 * in-memory connections that behave as redis-benchmark's 50 clients at pipeline 1 (each sends
 * its next command once its reply was written, in the event loop's next turn). What is left
 * out is the kernel's share (socket reads and writes, fdatasync: the database syncs nothing),
 * which no change to the server's code moves; what is in is everything else the server does
 * per command: the connection loop, parsing, dispatch, the handler, the engine write and its
 * group commit, the reply. On a shared machine the wall-clock rate swings with the load, the
 * main thread's CPU time per command much less: compare two builds by this, interleaved.
 *
 *   deno run -A --v8-flags=--memory-saver-mode,--max-semi-space-size=4 bench/types_cpu.ts \
 *     [--tests hset,lpush] [--n 100000] [--rounds 3] [--warmup 20000] [--against <checkout>]
 *     [--cpu-prof <file.cpuprofile> | --heap-prof <file.heapprofile>]
 *
 * Each test runs in redis-benchmark's order on one server (LPOP pops what LPUSH and RPUSH
 * pushed), after a warm-up run of every test; per test it prints the main thread's CPU µs per
 * command (from /proc/self/task/<pid>/schedstat: JavaScript, garbage collection pauses) and
 * the whole process's (user + system, `process.cpuUsage`: background compilation and
 * collection threads too), the lowest of the rounds. `--cpu-prof`/`--heap-prof` write a
 * sampling profile of one run of each test instead. On a loaded machine instruction counts
 * are steadier than CPU time: run each build once under
 * `valgrind --tool=cachegrind --cache-sim=no --smc-check=all-non-file` with `--rounds 1` and
 * the same `--n` (and `--warmup`), and divide the difference of the two totals by the commands
 * run (warm-up included).
 *
 * @module
 */

import process from "node:process";
import { encodeCommand, mainThreadNs, scheduleDue, startFakeServer } from "./_fake_clients.ts";
import { withCpuProfile, withHeapProfile } from "./_cpu_profile.ts";

const CLIENTS = 50;

/** The requests redis-benchmark sends for each `-t` test (captured with MONITOR, `-d 3`). */
const REQUESTS: Record<string, string[]> = {
  hset: ["HSET", "myhash", "element:__rand_int__", "VXK"],
  lpush: ["LPUSH", "mylist", "VXK"],
  rpush: ["RPUSH", "mylist", "VXK"],
  lpop: ["LPOP", "mylist"],
  rpop: ["RPOP", "mylist"],
  sadd: ["SADD", "myset", "element:__rand_int__"],
  spop: ["SPOP", "myset"],
  zadd: ["ZADD", "myzset", "0", "element:__rand_int__"],
  zpopmin: ["ZPOPMIN", "myzset"],
  lrange_100: ["LRANGE", "mylist", "0", "99"],
  get: ["GET", "key:__rand_int__"],
  set: ["SET", "key:__rand_int__", "VXK"],
  ping: ["PING"],
};

/** Replies written so far, and the main thread's CPU time at every `CHUNK`th. */
let replies = 0;
const CHUNK = 1000;
let chunkMarks: number[] = [];

/** One redis-benchmark client at pipeline 1, in memory. */
class FakeConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 6379 };
  #request: Uint8Array = new Uint8Array(0);
  #left = 0;
  #ready = false;
  #reader: { buf: Uint8Array; resolve: (n: number | null) => void } | undefined;
  #closed = false;
  #onIdle: () => void = () => {};

  /** Sends `request` `count` times, one at a time; `onIdle` when the last reply came. */
  start(request: Uint8Array, count: number, onIdle: () => void): void {
    this.#request = request;
    this.#left = count;
    this.#onIdle = onIdle;
    if (count === 0) return onIdle();
    this.#ready = true;
    scheduleDue(this);
  }

  deliver(): void {
    const r = this.#reader;
    if (!this.#ready || r === undefined) return;
    this.#reader = undefined;
    this.#ready = false;
    this.#left--;
    r.buf.set(this.#request);
    r.resolve(this.#request.length);
  }

  read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#reader = { buf, resolve };
      if (this.#ready) scheduleDue(this);
    });
  }

  write(chunk: Uint8Array): Promise<number> {
    // Pipeline 1: one write carries the reply of the one command sent.
    if (++replies % CHUNK === 0) chunkMarks.push(mainThreadNs());
    if (this.#left > 0) {
      this.#ready = true;
      scheduleDue(this);
    } else this.#onIdle();
    return Promise.resolve(chunk.length);
  }

  setNoDelay(): void {}

  close(): void {
    this.#closed = true;
    this.#reader?.resolve(null);
    this.#reader = undefined;
  }
}

function processUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Runs `n` requests of `test` over the clients: main-thread µs per command over the run, the
 * same over its quietest quarter of `CHUNK`-command stretches (the 25th percentile: least
 * disturbed by other processes on a shared machine), and process µs per command.
 */
async function run(
  conns: FakeConn[],
  test: string,
  n: number,
): Promise<[number, number, number]> {
  const request = encodeCommand(REQUESTS[test]!);
  replies = 0;
  chunkMarks = [];
  const main0 = mainThreadNs();
  const all0 = processUs();
  let idle = 0;
  await new Promise<void>((resolve) => {
    conns.forEach((c, i) => {
      const count = Math.floor(n / conns.length) + (i < n % conns.length ? 1 : 0);
      c.start(request, count, () => {
        if (++idle === conns.length) resolve();
      });
    });
  });
  const mainUs = (mainThreadNs() - main0) / 1000 / n;
  const allUs = (processUs() - all0) / n;
  const chunks: number[] = [];
  for (let i = 1; i < chunkMarks.length; i++) {
    chunks.push((chunkMarks[i]! - chunkMarks[i - 1]!) / 1000 / CHUNK);
  }
  chunks.sort((a, b) => a - b);
  return [mainUs, chunks[Math.floor(chunks.length / 4)] ?? mainUs, allUs];
}

/** One server under test: a checkout's `startServer` over its own database and clients. */
interface Target {
  name: string;
  conns: FakeConn[];
  close(): Promise<void>;
}

/** Starts the server of the checkout whose `src/` is at `src` (this one's by default). */
async function startTarget(name: string, src: URL): Promise<Target> {
  const conns = Array.from({ length: CLIENTS }, () => new FakeConn());
  const server = await startFakeServer(src, conns, "cityhall-bench-typescpu-");
  return {
    name,
    conns,
    close: () => server.close(),
  };
}

async function main(): Promise<void> {
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const tests = (flag("tests") ??
    "hset,lpush,rpush,lpop,rpop,sadd,spop,zadd,zpopmin,lrange_100").split(",");
  const n = Number(flag("n") ?? 100_000);
  const rounds = Number(flag("rounds") ?? 3);
  const warmup = Number(flag("warmup") ?? Math.min(n, 20_000));
  const against = flag("against");
  const targets = [await startTarget("this", new URL("../src/", import.meta.url))];
  if (against !== undefined) {
    targets.push(await startTarget(against, new URL(`file://${Deno.realPathSync(against)}/src/`)));
  }
  const best = new Map<string, number[]>();
  /** Main-thread µs per command summed over the rounds, per target and test (A/B mode). */
  const sums = new Map<string, number>();
  const heapProfile = flag("heap-prof");
  const cpuProfile = flag("cpu-prof");
  try {
    // Warm-up: every path compiled before anything is measured.
    for (const target of targets) {
      for (const t of tests) await run(target.conns, t, warmup);
    }
    if (cpuProfile !== undefined) {
      // Where the measured runs spend the main thread's time: a sampling CPU profile.
      await withCpuProfile(cpuProfile, async () => {
        for (const t of tests) await run(targets[0]!.conns, t, n);
      });
      return;
    }
    if (heapProfile !== undefined) {
      // Where the measured runs allocate (collected objects included): a sampling profile.
      await withHeapProfile(heapProfile, async () => {
        for (const t of tests) await run(targets[0]!.conns, t, n);
      });
      return;
    }
    for (let r = 0; r < rounds; r++) {
      for (const t of tests) {
        // Alternating which goes first, so that neither always follows the other.
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const target of order) {
          const got = await run(target.conns, t, n);
          const key = `${target.name} ${t}`;
          const old = best.get(key);
          best.set(key, got.map((x, i) => Math.min(old?.[i] ?? Infinity, x)));
          sums.set(key, (sums.get(key) ?? 0) + got[0]!);
        }
      }
    }
  } finally {
    for (const target of targets) await target.close();
  }
  const loadavg = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  for (const t of tests) {
    for (const target of targets) {
      const [m = NaN, q = NaN, a = NaN] = best.get(`${target.name} ${t}`)!;
      console.log(
        `${t.padEnd(11)} ${targets.length > 1 ? `${target.name.padEnd(16)} ` : ""}` +
          `main thread ${m.toFixed(2)} µs/cmd (quiet stretches ${q.toFixed(2)}, mean ` +
          `${(sums.get(`${target.name} ${t}`)! / rounds).toFixed(2)}), process ` +
          `${a.toFixed(2)} µs/cmd (${CLIENTS} clients, ${n} commands, best of ${rounds}, ` +
          `load ${loadavg})`,
      );
    }
    if (targets.length > 1) {
      const a = sums.get(`this ${t}`)!;
      const b = sums.get(`${targets[1]!.name} ${t}`)!;
      console.log(
        `${t.padEnd(11)} this / ${targets[1]!.name}: ${(a / b).toFixed(3)} (mean main thread)`,
      );
    }
  }
}

if (import.meta.main) await main();
