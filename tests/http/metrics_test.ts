import { assert, assertEquals } from "@std/assert";
import { renderMetrics } from "../../src/http/mod.ts";
import { Histogram, Registry } from "../../src/metrics/mod.ts";
import type { DatabaseStats } from "../../src/engine/mod.ts";
import { withServer } from "./_helpers.ts";

/** A stand-in for a RESP server's registry (the engine under it is real). */
function fakeResp(): Registry {
  const r = new Registry({ jsonPrefix: "server", infoSection: "stats" });
  r.collect(
    {
      name: "cityhall_connected_clients",
      help: "RESP connections open now",
      type: "gauge",
      unit: "1",
    },
    () => 2,
  );
  r.collect({
    name: "cityhall_commands_total",
    help: "RESP commands processed, by name",
    type: "counter",
    unit: "1",
    labels: ["command"],
    json: "server.commands",
  }, () =>
    [["set", 3], ["get", 5], ['we"ird\\name', 1]].map(([c, n]) => ({
      labels: [c as string],
      value: n as number,
    })));
  const h = new Histogram([0.001, 0.01]);
  for (const v of [0.0005, 0.0005, 0.0005, 0.001, 0.005, 0.005, 0.005, 0.0315]) h.observe(v);
  r.collect({
    name: "cityhall_command_duration_seconds",
    help: "RESP command execution latency",
    type: "histogram",
    unit: "seconds",
  }, () => h);
  return r;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const SAMPLE_LINE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$/;

/** Parses the text format strictly; returns samples as `name{labels}` → value. */
function parsePrometheus(text: string): Map<string, number> {
  check(text.endsWith("\n"), "ends with a newline");
  const samples = new Map<string, number>();
  const typed = new Map<string, string>();
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      check(name !== undefined && type !== undefined, line);
      check(["counter", "gauge", "histogram"].includes(type), line);
      check(!typed.has(name), `family typed twice: ${name}`);
      typed.set(name, type);
      continue;
    }
    check(!line.startsWith("#"), `unknown comment: ${line}`);
    const m = SAMPLE_LINE.exec(line);
    check(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    const value = m[5]!;
    const n = value === "+Inf" ? Infinity : value === "-Inf" ? -Infinity : Number(value);
    check(value === "NaN" || !Number.isNaN(n), `bad value: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, "");
    check(typed.has(m[1]!) || typed.get(base) === "histogram", `sample before its TYPE: ${line}`);
    const key = line.slice(0, line.lastIndexOf(" "));
    check(!samples.has(key), `duplicate sample: ${key}`);
    samples.set(key, n);
  }
  return samples;
}

Deno.test("GET /metrics is valid Prometheus text with engine, command and HTTP families", async () => {
  await withServer(async (h) => {
    const put = await h.fetch("/v1/keys/a", { method: "PUT", body: "hello" });
    await put.body?.cancel();
    await h.db.flush();
    const miss = await h.fetch("/nope");
    await miss.body?.cancel();

    const res = await h.fetch("/metrics");
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const s = parsePrometheus(await res.text());
    assertEquals(s.get("cityhall_puts_total"), 1);
    assertEquals(s.get("cityhall_bytes_written_total"), 6);
    assertEquals(s.get("cityhall_flushes_total"), 1);
    assertEquals(s.get('cityhall_sstables{level="0"}'), 1);
    assertEquals(s.get("cityhall_memtable_size_bytes"), 0);
    assertEquals(s.get("cityhall_compactions_total"), 0);
    assert((s.get("cityhall_wal_size_bytes") ?? -1) >= 0);
    assertEquals(s.get("cityhall_connected_clients"), 2);
    assertEquals(s.get('cityhall_commands_total{command="get"}'), 5);
    assertEquals(s.get('cityhall_commands_total{command="we\\"ird\\\\name"}'), 1);
    assertEquals(s.get('cityhall_command_duration_seconds_bucket{le="0.001"}'), 4);
    assertEquals(s.get('cityhall_command_duration_seconds_bucket{le="0.01"}'), 7);
    assertEquals(s.get('cityhall_command_duration_seconds_bucket{le="+Inf"}'), 8);
    assertEquals(s.get("cityhall_command_duration_seconds_count"), 8);
    assertEquals(s.get('cityhall_http_requests_total{route="v1_key",code="204"}'), 1);
    assertEquals(s.get('cityhall_http_requests_total{route="unknown",code="404"}'), 1);
    assertEquals(s.get('cityhall_http_request_duration_seconds_bucket{le="+Inf"}'), 2);
    assertEquals(s.get("cityhall_engine_failed"), 0);

    const stats = await (await h.fetch("/v1/stats")).json();
    assertEquals(stats.server.connectedClients, 2);
    assertEquals(stats.server.commands, { set: 3, get: 5, 'we"ird\\name': 1 });
  }, { metrics: fakeResp() });
});

Deno.test("renderMetrics() needs no RESP server and lists every level", () => {
  const stats: DatabaseStats = {
    lastSeq: 0,
    flushedSeq: 0,
    memtableSizeBytes: 0,
    memtableEntries: 0,
    immutableMemtables: 0,
    walSegments: 1,
    walSizeBytes: 0,
    tablesPerLevel: [1, 0, 2],
    bytesPerLevel: [10, 0, 20],
    walBytesWritten: 0,
    walGroupCommits: 0,
    walSyncs: 0,
    walSyncSeconds: 0,
    compactionStyle: "tiered" as const,
    sstableSizeBytes: 0,
    sstableEntries: 0,
    flushes: 0,
    flushBytesWritten: 0,
    compactions: 0,
    compactionTrivialMoves: 0,
    compactionFilterErrors: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    blockCacheHits: 0,
    blockCacheMisses: 0,
    rowCacheHits: 0,
    rowCacheMisses: 0,
    bytesWritten: 0,
    puts: 0,
    deletes: 0,
    gets: 0,
  };
  const bare = parsePrometheus(renderMetrics({ stats: () => stats }));
  assertEquals(bare.get('cityhall_sstables{level="2"}'), 2);
  assertEquals(bare.get('cityhall_sstable_level_size_bytes{level="2"}'), 20);
  assertEquals(bare.get("cityhall_connected_clients"), undefined);
  assertEquals(bare.get("cityhall_http_connections"), undefined);
});
