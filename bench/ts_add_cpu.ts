/**
 * CPU time per command of TS.ADD beside SET at pipeline 1 (issue 10's "TS.ADD ≥ 0.9× SET"),
 * measured in process as bench/types_cpu.ts measures the type commands: a real `startServer`
 * over a real database, whose listener hands out in-memory connections that behave as the
 * benchmark's 50 clients at pipeline 1 (each sends its next command once its reply was
 * written, in the event loop's next turn). Left out: the kernel's share (socket reads and
 * writes, fdatasync: the database syncs nothing), which the server's code does not move. In:
 * the connection loop, parsing, dispatch, the handler, the engine write and its group commit,
 * the reply. Each client writes its own 20 series in time order (as bench/ts_loadgen.ts does;
 * series created before the clock starts) and SETs its own keys with 16-byte values (as
 * bench/loadgen.ts does). Requests are encoded before a run, so the clients cost the main
 * thread only a copy per command.
 *
 *   deno run -A --v8-flags=--memory-saver-mode,--max-semi-space-size=4 bench/ts_add_cpu.ts \
 *     [--n 20000] [--rounds 5] [--against <checkout>] [--cpu-prof <file.cpuprofile>] \
 *     [--heap-prof <file.heapprofile>] \
 *     [--options "ON_DUPLICATE LAST"] [--prefill 4000] [--create] [--only add|set]
 *
 * `--options` are appended to every TS.ADD (options a client sends with each sample);
 * `--prefill` samples are first written into each series by TS.MADD (row 2 before row 2b).
 * `--create`: every TS.ADD names a key no command named before, so each creates its series
 * (`redis-benchmark -r 100000 TS.ADD ts:__rand_int__ '*' 42.5`, whose keys are mostly new; a
 * remote write of many new series), beside SETs of new keys as always.
 *
 * Prints, per build, the main thread's CPU µs per command (/proc/self/task/<pid>/schedstat)
 * of TS.ADD and SET, the median of the rounds, and their ratio; with `--against`, both builds
 * run in this process in alternating order and the ratio of their TS.ADD medians is printed.
 *
 * @module
 */

import { encodeCommand, mainThreadNs, scheduleDue, startFakeServer } from "./_fake_clients.ts";
import { withCpuProfile, withHeapProfile } from "./_cpu_profile.ts";

const CLIENTS = 50;
const SERIES = 20;

/** One client at pipeline 1, in memory, sending prepared requests one at a time. */
class FakeConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 6379 };
  #requests: Uint8Array[] = [];
  #next = 0;
  /** Bytes of request `#next` already delivered. */
  #offset = 0;
  #ready = false;
  #reader: { buf: Uint8Array; resolve: (n: number | null) => void } | undefined;
  #closed = false;
  #onIdle: () => void = () => {};
  /** Bytes of every reply written. */
  replyBytes = 0;
  /** The first reply of a run (checked: no error). */
  firstReply: Uint8Array | undefined;

  /** Sends `requests` one at a time; `onIdle` when the last reply came. */
  start(requests: Uint8Array[], onIdle: () => void): void {
    this.#requests = requests;
    this.#next = 0;
    this.#onIdle = onIdle;
    this.firstReply = undefined;
    if (requests.length === 0) return onIdle();
    this.#ready = true;
    scheduleDue(this);
  }

  deliver(): void {
    const r = this.#reader;
    if (!this.#ready || r === undefined) return;
    this.#reader = undefined;
    this.#ready = false;
    // A request longer than the read buffer (a TS.MADD of the prefill) goes over several reads.
    const request = this.#requests[this.#next]!;
    const n = Math.min(request.length - this.#offset, r.buf.length);
    r.buf.set(request.subarray(this.#offset, this.#offset + n));
    this.#offset += n;
    if (this.#offset === request.length) {
      this.#next++;
      this.#offset = 0;
    } else this.#ready = true;
    r.resolve(n);
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
    this.replyBytes += chunk.length;
    this.firstReply ??= chunk.slice();
    if (this.#next < this.#requests.length) {
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

/** Runs each client's requests; main-thread µs per command. */
async function run(conns: FakeConn[], requests: Uint8Array[][]): Promise<number> {
  const n = requests.reduce((s, r) => s + r.length, 0);
  const main0 = mainThreadNs();
  let idle = 0;
  await new Promise<void>((resolve) => {
    conns.forEach((c, i) =>
      c.start(requests[i]!, () => {
        if (++idle === conns.length) resolve();
      })
    );
  });
  const us = (mainThreadNs() - main0) / 1000 / n;
  for (const c of conns) {
    if (c.firstReply?.[0] === 45) {
      throw new Error(`error reply: ${new TextDecoder().decode(c.firstReply)}`);
    }
  }
  return us;
}

/** One server under test: a checkout's `startServer` over its own database and clients. */
interface Target {
  name: string;
  conns: FakeConn[];
  /** Rounds run so far (each writes later timestamps and other keys). */
  round: number;
  close(): Promise<void>;
}

async function startTarget(name: string, src: URL): Promise<Target> {
  const conns = Array.from({ length: CLIENTS }, () => new FakeConn());
  const server = await startFakeServer(src, conns, "cityhall-bench-tsaddcpu-");
  const target: Target = {
    name,
    conns,
    round: 0,
    close: () => server.close(),
  };
  // The series, before any clock (bench/ts_loadgen.ts creates them before its clock too).
  await run(
    conns,
    conns.map((_, c) =>
      Array.from(
        { length: SERIES },
        (_, j) => encodeCommand(["TS.CREATE", `bench:${c}:${j}`, "LABELS", "conn", String(c)]),
      )
    ),
  );
  return target;
}

/** `n` TS.ADD requests over the clients, in time order per series, for `round`. */
function addRequests(
  n: number,
  round: number,
  options: string[],
  create: boolean,
): Uint8Array[][] {
  return Array.from({ length: CLIENTS }, (_, c) => {
    const per = Math.ceil(n / CLIENTS);
    return Array.from({ length: per }, (_, i) => {
      if (create) {
        return encodeCommand(["TS.ADD", `new:${round}:${c}:${i}`, "*", "42.5", ...options]);
      }
      const ts = 1_800_000_000_000 + round * 10_000_000_000 + Math.floor(i / SERIES) * 1000;
      const v = 20 + ((i * 7919 + c * 104_729) % 2000) / 100;
      return encodeCommand([
        "TS.ADD",
        `bench:${c}:${i % SERIES}`,
        String(ts),
        v.toFixed(2),
        ...options,
      ]);
    });
  });
}

/** One TS.MADD per client: samples `from ... from + count` of each of its series. */
function maddRequests(from: number, count: number): Uint8Array[][] {
  return Array.from({ length: CLIENTS }, (_, c) => {
    const args = ["TS.MADD"];
    for (let j = 0; j < SERIES; j++) {
      for (let i = from; i < from + count; i++) {
        const v = 20 + ((i * 7919 + j * 104_729 + c) % 2000) / 100;
        args.push(`bench:${c}:${j}`, String(1_700_000_000_000 + i * 1000), v.toFixed(2));
      }
    }
    return [encodeCommand(args)];
  });
}

/** `n` SET requests over the clients, 16-byte values, keys of `round`. */
function setRequests(n: number, round: number): Uint8Array[][] {
  return Array.from({ length: CLIENTS }, (_, c) => {
    const per = Math.ceil(n / CLIENTS);
    return Array.from(
      { length: per },
      (_, i) => encodeCommand(["SET", `key:${round}:${c}:${i}`, "0123456789abcdef"]),
    );
  });
}

async function main(): Promise<void> {
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const n = Number(flag("n") ?? 20_000);
  const rounds = Number(flag("rounds") ?? 5);
  const against = flag("against");
  const options = (flag("options") ?? "").split(" ").filter((x) => x !== "");
  const prefill = Number(flag("prefill") ?? 0);
  const create = Deno.args.includes("--create");
  const only = flag("only") as "add" | "set" | undefined;
  const targets = [await startTarget("this", new URL("../src/", import.meta.url))];
  if (against !== undefined) {
    targets.push(await startTarget(against, new URL(`file://${Deno.realPathSync(against)}/src/`)));
  }
  const results = new Map<string, number[]>();
  const once = async (target: Target, test: "add" | "set") => {
    const round = target.round++;
    return await run(
      target.conns,
      test === "add" ? addRequests(n, round, options, create) : setRequests(n, round),
    );
  };
  try {
    // As bench/timeseries.ts row 2 leaves the series before row 2b: `prefill` samples each,
    // older than every TS.ADD's, through TS.MADD of 100 (5 per series: a request fits the
    // fake connection's read buffer).
    for (const target of targets) {
      for (let from = 0; from < prefill; from += 5) {
        await run(target.conns, maddRequests(from, Math.min(5, prefill - from)));
      }
    }
    for (const target of targets) { // warm-up
      if (only !== "set") await once(target, "add");
      if (only !== "add") await once(target, "set");
    }
    const cpuProfile = flag("cpu-prof");
    const heapProfile = flag("heap-prof");
    if (cpuProfile !== undefined || heapProfile !== undefined) {
      const profile = cpuProfile !== undefined ? withCpuProfile : withHeapProfile;
      await profile(cpuProfile ?? heapProfile!, async () => {
        for (let r = 0; r < rounds; r++) await once(targets[0]!, "add");
      });
      return;
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        for (const test of only === undefined ? ["add", "set"] as const : [only]) {
          const key = `${target.name} ${test}`;
          results.set(key, [...(results.get(key) ?? []), await once(target, test)]);
        }
      }
    }
  } finally {
    for (const target of targets) await target.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const loadavg = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  for (const target of targets) {
    const add = results.get(`${target.name} add`) ?? [NaN];
    const set = results.get(`${target.name} set`) ?? [NaN];
    console.log(
      `${target.name.padEnd(16)} TS.ADD ${median(add).toFixed(2)} µs/cmd (${
        add.map((x) => x.toFixed(2)).join(" ")
      }), SET ${median(set).toFixed(2)} µs/cmd (${set.map((x) => x.toFixed(2)).join(" ")}), ` +
        `TS.ADD/SET ${(median(add) / median(set)).toFixed(2)} (main thread, ${n} commands, ` +
        `${rounds} rounds, load ${loadavg})`,
    );
  }
  if (targets.length > 1) {
    const a = median(results.get("this add") ?? [NaN]);
    const b = median(results.get(`${targets[1]!.name} add`) ?? [NaN]);
    console.log(`TS.ADD this / ${targets[1]!.name}: ${(a / b).toFixed(3)}`);
  }
}

if (import.meta.main) await main();
