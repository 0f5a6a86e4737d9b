/**
 * Server benchmark rows for the member types: `redis-benchmark -t hset,lpush,rpush,lpop,rpop,
 * sadd,spop,zadd,zpopmin,lrange_100` against CityHall and redis-server (appendfsync always), in
 * alternation, best of `ROUNDS` each, with the ratio in the note (issue 14 asks for ≥ 0.7×).
 *
 * Each test is its own redis-benchmark run, in redis-benchmark's order against the same server
 * (so LPOP pops what LPUSH and RPUSH pushed, as in one `-t` run), and where the server's process
 * id is known the note gives its CPU time (user + system, from /proc/<pid>/stat) per command:
 * on a shared machine wall-clock throughput is noisy, CPU per command much less.
 *
 * Run alone (the type rows only, `cityhall serve` beside redis-server):
 * `deno run -A bench/types.ts [--tests lpush,lrange_100] [--rounds 3]`.
 *
 * @module
 */

import { formatRow, type Row, scaled } from "./harness.ts";

const dec = new TextDecoder();
const CLIENTS = 50;
const ROUNDS = 2;
const TOOL_TIMEOUT_MS = 300_000;

/**
 * redis-benchmark's `-t` names, in its order, with the row name of each. LRANGE_100 is run as
 * what `-t lrange_100` sends, in two parts, so that its CPU figure is LRANGE's alone: the list
 * fill (`-t lpush`: `LPUSH mylist xxx`, one per request) and then `LRANGE mylist 0 99`.
 */
const NAMES: [string, string][] = [
  ["hset", "HSET"],
  ["lpush", "LPUSH"],
  ["rpush", "RPUSH"],
  ["lpop", "LPOP"],
  ["rpop", "RPOP"],
  ["sadd", "SADD"],
  ["spop", "SPOP"],
  ["zadd", "ZADD"],
  ["zpopmin", "ZPOPMIN"],
  ["lrange_100", "LRANGE_100"],
];

/** The redis-benchmark arguments that run test `test` (`-t` name) and the runs before it. */
function testArgs(test: string): { setup?: string[]; args: string[] } {
  if (test === "lrange_100") {
    return { setup: ["-t", "lpush"], args: ["LRANGE", "mylist", "0", "99"] };
  }
  return { args: ["-t", test] };
}

/** A server to measure: its port and, when known, its process id (for its CPU time). */
export interface TypeTarget {
  name: string;
  port: number;
  pid?: number | undefined;
}

/** CPU time (user + system) of process `pid` in clock ticks, `undefined` when unreadable. */
function cpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** One measured test: requests/s and, when known, the server's CPU µs per command. */
export interface TypeResult {
  rps: number;
  cpuUsPerCommand?: number;
}

/** One redis-benchmark run of `args` against port `port`: requests/s of its (last) test. */
async function runTool(bin: string, port: number, args: string[], requests: number) {
  const out = await new Deno.Command(bin, {
    args: [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-c",
      String(CLIENTS),
      "-n",
      String(requests),
      "-q",
      "--csv",
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).output();
  const stdout = dec.decode(out.stdout);
  if (!out.success || /error/i.test(stdout)) {
    throw new Error(`redis-benchmark failed (port ${port}): ${stdout.trim()}`);
  }
  let rps = NaN;
  for (const line of stdout.split("\n")) {
    const m = /^"([^"]+)","([\d.]+)"/.exec(line);
    if (m) rps = Number(m[2]);
  }
  return rps;
}

/**
 * Test `test` (a `-t` name) against `target`: requests/s and the server's CPU per command of
 * the measured run (not of the setup before it).
 */
export async function typeBenchmark(
  bin: string,
  target: TypeTarget,
  test: string,
  requests: number,
): Promise<TypeResult> {
  const { setup, args } = testArgs(test);
  if (setup !== undefined) await runTool(bin, target.port, setup, requests);
  const before = cpuTicks(target.pid);
  const rps = await runTool(bin, target.port, args, requests);
  const after = cpuTicks(target.pid);
  if (before === undefined || after === undefined) return { rps };
  return { rps, cpuUsPerCommand: (after - before) / TICKS_PER_S * 1e6 / requests };
}

/**
 * The rows: CityHall (`main` target) beside redis-server, best of `rounds` in alternation, per
 * test; the note has the server CPU per command (lowest of the rounds) where pids are known.
 */
export async function typeRows(
  bin: string,
  targets: TypeTarget[],
  notes: { main: string; procNote: string; peerNote: string; peer: string },
  options: { tests?: string[]; rounds?: number } = {},
): Promise<Row[]> {
  const requests = scaled(50_000);
  const rounds = options.rounds ?? ROUNDS;
  const names = NAMES.filter(([t]) => options.tests === undefined || options.tests.includes(t));
  const best = new Map<string, Map<string, TypeResult>>();
  for (let round = 0; round < rounds; round++) {
    for (const t of targets) {
      const b = best.get(t.name) ?? new Map<string, TypeResult>();
      for (const [test, name] of names) {
        const r = await typeBenchmark(bin, t, test, requests);
        const old = b.get(name);
        const cpu = r.cpuUsPerCommand;
        b.set(name, {
          rps: Math.max(old?.rps ?? 0, r.rps),
          ...(cpu !== undefined
            ? { cpuUsPerCommand: Math.min(old?.cpuUsPerCommand ?? Infinity, cpu) }
            : {}),
        });
      }
      best.set(t.name, b);
    }
  }
  const rows: Row[] = [];
  const tests = names.map(([t]) => t).join(",");
  for (const [, name] of names) {
    const ours = best.get(notes.main)?.get(name);
    const peer = best.get("redis")?.get(name);
    const ratio = peer !== undefined && peer.rps > 0 && ours !== undefined
      ? ` (${(ours.rps / peer.rps).toFixed(2)}× Redis)`
      : "";
    const cpu = ours?.cpuUsPerCommand !== undefined && peer?.cpuUsPerCommand !== undefined
      ? `server CPU/command: ${ours.cpuUsPerCommand.toFixed(1)} µs vs Redis ` +
        `${peer.cpuUsPerCommand.toFixed(1)} µs (${
          (peer.cpuUsPerCommand / ours.cpuUsPerCommand).toFixed(2)
        }× by CPU); `
      : "";
    rows.push({
      name: `server ${name}, ${CLIENTS} clients, pipeline 1 (redis-benchmark)${ratio}`,
      unit: "ops/s",
      cityhall: ours?.rps ?? NaN,
      ...(peer !== undefined ? { denoKv: peer.rps, peer: notes.peer } : {}),
      note: `redis-benchmark -t ${tests} (one run per test, in order) -c ${CLIENTS} ` +
        `-n ${requests}; best of ${rounds}; ${cpu}${notes.procNote}; ${notes.peerNote}`,
    });
  }
  return rows;
}

/** `deno run -A bench/types.ts`: the type rows alone (see the module comment). */
async function main(): Promise<void> {
  const { findOnPath, startCityHallProcess, startRedis } = await import("./server.ts");
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const [redisServer, redisBenchmark] = await Promise.all([
    findOnPath("redis-server"),
    findOnPath("redis-benchmark"),
  ]);
  if (redisServer === undefined || redisBenchmark === undefined) {
    console.error("redis-server and redis-benchmark must be on PATH");
    Deno.exit(1);
  }
  const proc = await startCityHallProcess();
  if (typeof proc === "string") {
    console.error(proc);
    Deno.exit(1);
  }
  const redis = await startRedis(redisServer);
  try {
    const rows = await typeRows(
      redisBenchmark,
      [{ name: "proc", port: proc.port, pid: proc.pid }, {
        name: "redis",
        port: redis.port,
        pid: redis.pid,
      }],
      {
        main: "proc",
        procNote: "CityHall: `deno run -A src/main.ts serve --sync always`",
        peerNote: "peer: Redis appendfsync always",
        peer: "Redis appendfsync always",
      },
      {
        ...(flag("tests") !== undefined ? { tests: flag("tests")!.split(",") } : {}),
        ...(flag("rounds") !== undefined ? { rounds: Number(flag("rounds")) } : {}),
      },
    );
    for (const row of rows) console.log(formatRow(row));
  } finally {
    await proc.close();
    await redis.close();
  }
}

// Not a top-level await: server.ts imports this module, which must finish evaluating first.
if (import.meta.main) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  });
}
