/**
 * Server benchmarks: SET and GET with 50 clients at pipeline 1 and 16, 100-byte values, against
 * CityHall's RESP server (in this process, a fresh database with `syncMode: "always"`) and, as
 * the peer, `redis-server` with `appendonly yes`, `appendfsync always` (when installed). Two
 * clients drive each: our load generator (bench/loadgen.ts, run as its own process so it does
 * not share the server's event loop; it checks every reply) and `redis-benchmark` (when
 * installed). CityHall and Redis are measured in alternation, `ROUNDS` times, and the best
 * figure of each is kept: fsync latency on shared disks drifts by 2-3x within a minute.
 * Sizes scale with BENCH_SCALE (default 1). The pub/sub rows (PUBLISH to 1 and 100 subscribers)
 * are bench/pubsub.ts's.
 */

import { Database } from "../src/mod.ts";
import { startServer } from "../src/server/mod.ts";
import { freePort, type Row, scaled } from "./harness.ts";
import { runLoadProcess } from "./loadgen.ts";
import { pubsubRows } from "./pubsub.ts";
import { serverMemoryBench } from "./server_memory.ts";
import { typeRows } from "./types.ts";

const CLIENTS = 50;
const VALUE_SIZE = 100;
const PIPELINES = [1, 16] as const;
const ROUNDS = 2;
const PEER = "Redis appendfsync always";
/** Longest one redis-benchmark run may take before it is killed. */
const TOOL_TIMEOUT_MS = 120_000;

const dec = new TextDecoder();

/** The full path of `name` on PATH, or undefined. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = await Deno.stat(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** True once something on `port` answers PING with +PONG. */
async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("*1\r\n$4\r\nPING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    return n !== null && dec.decode(buf.subarray(0, n)) === "+PONG\r\n";
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/** A server started for the benchmark. */
export interface Peer {
  port: number;
  close(): Promise<void>;
}

/** A `cityhall serve` process started for the benchmark. */
export interface CityHallProcess extends Peer {
  /** Its process id (for /proc/<pid>/status). */
  pid: number;
  /** Sends SIGKILL and waits until it is gone (the data directory stays). */
  kill(): Promise<void>;
}

/** Options of `startCityHallProcess`. */
export interface StartOptions {
  /** Data directory to use and keep (default: a temporary one, removed on close). */
  dataDir?: string;
  /** Extra `serve` flags. */
  args?: string[];
  /** Extra environment variables (e.g. `DENO_V8_FLAGS`). */
  env?: Record<string, string>;
  /** Extra `deno run` flags (e.g. `--cpu-prof`). */
  denoArgs?: string[];
  /**
   * The server's V8 flags, comma-separated as `--v8-flags=` takes them (default: those of
   * `deno task start`; "" for none): the V8 flag A/B (bench/v8_flags.ts) sets them. The task's
   * other `deno run` flags are passed either way.
   */
  v8Flags?: string;
}

/**
 * The `deno run` flags of `deno task start` (deno.json) besides `-A`: its `--v8-flags=...` and the
 * others (`--no-code-cache`, `--unstable-lazy-dynamic-imports`), and the environment variables it
 * sets before `deno` (`DENO_NO_UPDATE_CHECK=1`), so that the benchmark runs the server as users
 * start it; `v8` is the `--v8-flags=...` argument alone (none when the task has none), `other` the
 * rest, `env` the variables.
 */
function startTaskFlags(): { v8: string[]; other: string[]; env: Record<string, string> } {
  const config = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  ) as { tasks?: Record<string, string> };
  const words = (config.tasks?.start ?? "").split(/\s+/);
  const env: Record<string, string> = {};
  // `NAME=value` words before the command: the task shell sets them for `deno run`.
  for (const word of words) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(word);
    if (m === null) break;
    env[m[1]!] = m[2]!;
  }
  const at = words.indexOf("run");
  const flags: string[] = [];
  // The flags between `deno run` and the script.
  for (const word of words.slice(at < 0 ? words.length : at + 1)) {
    if (!word.startsWith("-")) break;
    if (word !== "-A") flags.push(word);
  }
  return {
    v8: flags.filter((f) => f.startsWith("--v8-flags=")),
    other: flags.filter((f) => !f.startsWith("--v8-flags=")),
    env,
  };
}

/** How long `cityhall serve` may take to say it is listening. */
const SERVE_START_TIMEOUT_MS = 60_000;

/**
 * Starts `deno run -A src/main.ts serve` (RESP only, sync always) on a free port in a temp
 * dir, or returns why it cannot (a CLI without `serve`).
 */
export async function startCityHallProcess(
  options: StartOptions = {},
): Promise<CityHallProcess | string> {
  const main = new URL("../src/main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", config, main, "serve", "--help"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(SERVE_START_TIMEOUT_MS),
  }).output();
  if (!help.success || !dec.decode(help.stdout).includes("--sync")) {
    return "src/main.ts has no `serve` command";
  }
  const dir = options.dataDir ?? await Deno.makeTempDir({ prefix: "cityhall-bench-serve-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...startTaskFlags().other,
      ...(options.v8Flags === undefined
        ? startTaskFlags().v8
        : options.v8Flags === ""
        ? []
        : [`--v8-flags=${options.v8Flags}`]),
      ...(options.denoArgs ?? []),
      "--config",
      config,
      main,
      "serve",
      "--data-dir",
      dir,
      "--port",
      "0",
      "--no-http",
      "--sync",
      "always",
      "--log-level",
      "info",
      ...(options.args ?? []),
    ],
    env: { ...startTaskFlags().env, ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 10_000);
      await status;
      clearTimeout(timer);
    }
    if (options.dataDir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Read stderr to the end (so the pipe never fills), watching for the listening line.
  const lines: string[] = [];
  let onListening!: (port: number) => void;
  const listening = new Promise<number>((resolve) => onListening = resolve);
  const drained = (async () => {
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        lines.push(line);
        if (lines.length > 20) lines.shift();
        const m = /msg="listening" resp=\S+:(\d+)/.exec(line);
        if (m) onListening(Number(m[1]));
      }
    }
  })().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const port = await Promise.race([
    listening,
    status.then(() => undefined),
    new Promise<undefined>((resolve) =>
      timer = setTimeout(() => resolve(undefined), SERVE_START_TIMEOUT_MS)
    ),
  ]);
  clearTimeout(timer);
  if (port === undefined) {
    await stop();
    await drained;
    throw new Error(`cityhall serve did not start: ${lines.slice(-3).join(" / ")}`);
  }
  return {
    port,
    pid: child.pid,
    close: async () => {
      await stop();
      await drained;
    },
    kill: async () => {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await status;
      await drained;
    },
  };
}

/** Starts redis-server durable like CityHall, on a free port in a temp dir. */
export async function startRedis(bin: string): Promise<Peer & { pid: number }> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-redis-" });
  let lastError = "";
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = freePort();
      const child = new Deno.Command(bin, {
        args: [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--appendonly",
          "yes",
          "--appendfsync",
          "always",
          "--save",
          "",
          "--daemonize",
          "no",
          "--logfile",
          `${dir}/redis.log`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let exited = false;
      child.status.then(() => exited = true);
      const stop = async () => {
        if (!exited) {
          try {
            child.kill("SIGTERM");
          } catch {
            // Already gone.
          }
          const timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch {
              // Already gone.
            }
          }, 5000);
          await child.status;
          clearTimeout(timer);
        }
      };
      const deadline = performance.now() + 5000;
      while (!exited && performance.now() < deadline && !(await answersPing(port))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!exited && await answersPing(port)) {
        return {
          port,
          pid: child.pid,
          close: async () => {
            await stop();
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          },
        };
      }
      await stop();
      lastError = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "no log");
    }
    throw new Error(`redis-server did not start: ${lastError.trim().split("\n").at(-1)}`);
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** `redis-benchmark -t set,get … -q --csv`: requests/s by test name (SET, GET). */
async function redisBenchmark(
  bin: string,
  port: number,
  pipeline: number,
  requests: number,
): Promise<{ set: number; get: number }> {
  const out = await new Deno.Command(bin, {
    args: [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      "set,get",
      "-c",
      String(CLIENTS),
      "-P",
      String(pipeline),
      "-d",
      String(VALUE_SIZE),
      "-n",
      String(requests),
      "-q",
      "--csv",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).output();
  const stdout = dec.decode(out.stdout);
  const stderr = dec.decode(out.stderr);
  if (!out.success || /error/i.test(stdout + stderr)) {
    throw new Error(`redis-benchmark failed (port ${port}): ${(stderr || stdout).trim()}`);
  }
  const rps: Record<string, number> = {};
  for (const line of stdout.split("\n")) {
    const m = /^"([A-Z]+)","([\d.]+)"/.exec(line);
    if (m) rps[m[1]!] = Number(m[2]);
  }
  if (rps.SET === undefined || rps.GET === undefined) {
    throw new Error(`redis-benchmark printed no SET/GET figures: ${stdout.trim()}`);
  }
  return { set: rps.SET, get: rps.GET };
}

/** Requests per redis-benchmark test / load generator phase at `pipeline`. */
function requestsFor(pipeline: number): number {
  return pipeline === 1 ? scaled(50_000) : scaled(200_000);
}

/** Runs the server rows and returns them. */
export async function serverBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    log(row);
  };
  // The memory rows first, on fresh servers, before this process holds a database.
  rows.push(...await serverMemoryBench(log));
  const [redisServerBin, redisBenchmarkBin] = await Promise.all([
    findOnPath("redis-server"),
    findOnPath("redis-benchmark"),
  ]);

  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-server-" });
  let db: Database | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let proc: Peer | undefined;
  let redis: Peer | undefined;
  // Process ids for the type rows' CPU per command (the in-process server is this process).
  const pids = new Map<string, number>([["inproc", Deno.pid]]);
  try {
    // CityHall as `cityhall serve` (the figure reported) and in this process (in the note).
    db = await Database.open(dir, { syncMode: "always" });
    server = await startServer(db, { port: 0, syncMode: "always" });
    let procNote: string;
    const started = await startCityHallProcess();
    if (typeof started === "string") procNote = `in-process only: ${started}`;
    else {
      proc = started;
      pids.set("proc", started.pid);
      procNote = "CityHall: `deno run -A src/main.ts serve --sync always`";
    }
    let peerNote = `peer: ${PEER}`;
    if (redisServerBin === undefined) {
      peerNote = "no peer: redis-server not on PATH (Debian: apt-get install redis-server)";
    } else {
      try {
        const r = await startRedis(redisServerBin);
        redis = r;
        pids.set("redis", r.pid);
      } catch (err) {
        peerNote = `no peer: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    const targets = [
      { name: "proc", port: proc?.port },
      { name: "inproc", port: server.addr.port },
      { name: "redis", port: redis?.port },
    ].filter((t): t is { name: string; port: number } => t.port !== undefined);

    /** Measures every target `ROUNDS` times in alternation; best SET and GET of each. */
    const measure = async (
      run: (port: number) => Promise<{ set: number; get: number }>,
    ): Promise<Map<string, { set: number; get: number }>> => {
      const best = new Map(targets.map((t) => [t.name, { set: 0, get: 0 }]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of targets) {
          const r = await run(t.port);
          const b = best.get(t.name)!;
          b.set = Math.max(b.set, r.set);
          b.get = Math.max(b.get, r.get);
        }
      }
      return best;
    };
    const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
    const report = (
      best: Map<string, { set: number; get: number }>,
      pipeline: number,
      tool: string,
      detail: string,
    ) => {
      for (const command of ["set", "get"] as const) {
        const main = best.get(proc ? "proc" : "inproc")![command];
        const inproc = best.get("inproc")![command];
        const peer = best.get("redis")?.[command];
        add({
          name:
            `server ${command.toUpperCase()}, ${CLIENTS} clients, pipeline ${pipeline} (${tool})`,
          unit: "ops/s",
          cityhall: main,
          ...(peer !== undefined ? { denoKv: peer, peer: PEER } : {}),
          note: `${detail}; best of ${ROUNDS}; ${procNote}` +
            (proc ? `; in-process server: ${fmt(inproc)}/s` : "") + `; ${peerNote}`,
        });
      }
    };

    // (a) Our load generator, as its own process. The SET phase writes every key of the
    // keyspace, so the GET phase can check each value.
    const keyspace = scaled(50_000);
    for (const pipeline of PIPELINES) {
      const requests = requestsFor(pipeline);
      const best = await measure(async (port) => {
        const opts = { port, connections: CLIENTS, pipeline, requests, keyspace };
        const set = await runLoadProcess({ ...opts, command: "set", valueSize: VALUE_SIZE });
        const get = await runLoadProcess({ ...opts, command: "get", valueSize: VALUE_SIZE });
        return { set: set.opsPerSec, get: get.opsPerSec };
      });
      report(
        best,
        pipeline,
        "loadgen",
        `bench/loadgen.ts: ${requests} SETs then GETs of ${VALUE_SIZE} B over ${keyspace} keys, ` +
          `every reply checked`,
      );
    }

    // (b) redis-benchmark.
    if (redisBenchmarkBin === undefined) {
      add({
        name: "server SET/GET (redis-benchmark)",
        unit: "ops/s",
        cityhall: NaN,
        note: "not run: redis-benchmark not on PATH (Debian: apt-get install redis-tools)",
      });
    } else {
      for (const pipeline of PIPELINES) {
        const requests = requestsFor(pipeline);
        const best = await measure((port) =>
          redisBenchmark(redisBenchmarkBin, port, pipeline, requests)
        );
        report(
          best,
          pipeline,
          "redis-benchmark",
          `redis-benchmark -t set,get -c ${CLIENTS} -P ${pipeline} -d ${VALUE_SIZE} -n ${requests}`,
        );
      }
    }

    // (c) Pub/sub: PUBLISH to 1 and to 100 subscribers (bench/pubsub.ts).
    for (
      const row of await pubsubRows(targets, { procNote, peerNote, peer: PEER })
    ) {
      add(row);
    }

    // (d) Hashes, lists, sets, sorted sets (bench/types.ts).
    if (redisBenchmarkBin !== undefined) {
      const main = proc ? "proc" : "inproc";
      const notes = { main, procNote, peerNote, peer: PEER };
      const typeTargets = targets.map((t) => ({ ...t, pid: pids.get(t.name) }));
      for (const row of await typeRows(redisBenchmarkBin, typeTargets, notes)) add(row);
    }
  } finally {
    await server?.close();
    await db?.close();
    await proc?.close();
    await redis?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return rows;
}
