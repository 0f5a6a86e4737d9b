/**
 * Server benchmark rows for the member types: `redis-benchmark -t hset,lpush,rpush,lpop,rpop,
 * sadd,spop,zadd,zpopmin,lrange_100` against CityHall and redis-server (appendfsync always), in
 * alternation, best of `ROUNDS` each, with the ratio in the note (issue 14 asks for ≥ 0.7×).
 *
 * @module
 */

import { type Row, scaled } from "./harness.ts";

const dec = new TextDecoder();
const TESTS = "hset,lpush,rpush,lpop,rpop,sadd,spop,zadd,zpopmin,lrange_100";
const CLIENTS = 50;
const ROUNDS = 2;
const TOOL_TIMEOUT_MS = 300_000;

/** redis-benchmark's CSV test names, in its order, with the row name each gets. */
const NAMES: [string, string][] = [
  ["HSET", "HSET"],
  ["LPUSH", "LPUSH"],
  ["RPUSH", "RPUSH"],
  ["LPOP", "LPOP"],
  ["RPOP", "RPOP"],
  ["SADD", "SADD"],
  ["SPOP", "SPOP"],
  ["ZADD", "ZADD"],
  ["ZPOPMIN", "ZPOPMIN"],
  ["LRANGE_100 (first 100 elements)", "LRANGE_100"],
];

/** One redis-benchmark run of the type tests: requests/s by CSV test name. */
export async function typeBenchmark(
  bin: string,
  port: number,
  requests: number,
): Promise<Map<string, number>> {
  const out = await new Deno.Command(bin, {
    args: [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      TESTS,
      "-c",
      String(CLIENTS),
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
  if (!out.success || /error/i.test(stdout)) {
    throw new Error(`redis-benchmark failed (port ${port}): ${stdout.trim()}`);
  }
  const rps = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const m = /^"([^"]+)","([\d.]+)"/.exec(line);
    if (m) rps.set(m[1]!, Number(m[2]));
  }
  return rps;
}

/** The rows: CityHall (`main` target) beside redis-server, best of `ROUNDS` in alternation. */
export async function typeRows(
  bin: string,
  targets: { name: string; port: number }[],
  notes: { main: string; procNote: string; peerNote: string; peer: string },
): Promise<Row[]> {
  const requests = scaled(50_000);
  const best = new Map<string, Map<string, number>>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const r = await typeBenchmark(bin, t.port, requests);
      const b = best.get(t.name) ?? new Map<string, number>();
      for (const [k, v] of r) b.set(k, Math.max(b.get(k) ?? 0, v));
      best.set(t.name, b);
    }
  }
  const rows: Row[] = [];
  for (const [csv, name] of NAMES) {
    const ours = best.get(notes.main)?.get(csv) ?? NaN;
    const peer = best.get("redis")?.get(csv);
    const ratio = peer !== undefined && peer > 0 ? ` (${(ours / peer).toFixed(2)}× Redis)` : "";
    rows.push({
      name: `server ${name}, ${CLIENTS} clients, pipeline 1 (redis-benchmark)${ratio}`,
      unit: "ops/s",
      cityhall: ours,
      ...(peer !== undefined ? { denoKv: peer, peer: notes.peer } : {}),
      note: `redis-benchmark -t ${TESTS} -c ${CLIENTS} -n ${requests}; best of ${ROUNDS}; ` +
        `${notes.procNote}; ${notes.peerNote}`,
    });
  }
  return rows;
}
