/**
 * The metrics registry (ARCHITECTURE.md § "Metrics registry"): a stat declared once renders in
 * `/metrics`, INFO and `/v1/stats`; histogram buckets, sum and count; label escaping; names
 * declared twice or against the naming rules are refused.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  attachedRegistries,
  attachRegistry,
  detachRegistry,
  externalFamilies,
  gather,
  Histogram,
  Registry,
  renderInfo,
  renderJson,
  renderPrometheus,
} from "../../src/metrics/mod.ts";
import { AssertionError } from "../../src/util/assert.ts";
import { Database } from "../../src/mod.ts";
import { engineFacts, engineRegistry } from "../../src/engine/metrics.ts";

function example(): { r: Registry; hits: { value: number } } {
  const r = new Registry({ jsonPrefix: "server", infoSection: "stats" });
  const hits = r.counter({
    name: "cityhall_keyspace_hits_total",
    help: "Reads that found their key",
    unit: "1",
  });
  r.collect({
    name: "cityhall_memory_used_bytes",
    help: "Memory in use",
    type: "gauge",
    unit: "bytes",
    info: { section: "memory", field: "used_memory", human: true },
  }, () => 1536);
  r.collect({
    name: "cityhall_sstables",
    help: "SSTables per level",
    type: "gauge",
    unit: "1",
    labels: ["level"],
    list: true,
    info: { section: "cityhall", field: "tables_per_level" },
    json: "tablesPerLevel",
  }, () => [{ labels: ["1"], value: 0 }, { labels: ["0"], value: 3 }, { labels: ["2"], value: 5 }]);
  const requests = r.counterVec({
    name: "cityhall_http_requests_total",
    help: "HTTP requests, by route and status code",
    unit: "1",
    labels: ["route", "code"],
  });
  requests.inc(["v1_key", "204"], 2);
  requests.inc(["v1_key", "200"]);
  hits.inc(4);
  return { r, hits };
}

Deno.test("registry: a stat declared once shows in /metrics, INFO and /v1/stats", () => {
  const { r } = example();
  const families = r.families();
  assertEquals(
    renderPrometheus(families),
    [
      "# HELP cityhall_keyspace_hits_total Reads that found their key",
      "# TYPE cityhall_keyspace_hits_total counter",
      "cityhall_keyspace_hits_total 4",
      "# HELP cityhall_memory_used_bytes Memory in use",
      "# TYPE cityhall_memory_used_bytes gauge",
      "cityhall_memory_used_bytes 1536",
      "# HELP cityhall_sstables SSTables per level",
      "# TYPE cityhall_sstables gauge",
      'cityhall_sstables{level="0"} 3',
      'cityhall_sstables{level="1"} 0',
      'cityhall_sstables{level="2"} 5',
      "# HELP cityhall_http_requests_total HTTP requests, by route and status code",
      "# TYPE cityhall_http_requests_total counter",
      'cityhall_http_requests_total{route="v1_key",code="200"} 1',
      'cityhall_http_requests_total{route="v1_key",code="204"} 2',
      "",
    ].join("\n"),
  );
  // INFO: the registry's default section, an alias with Redis's name, a list as one field.
  assertEquals(renderInfo(families, "stats"), [
    ["keyspace_hits", 4],
    ["http_requests_v1_key_200", 1],
    ["http_requests_v1_key_204", 2],
  ]);
  assertEquals(renderInfo(families, "memory"), [
    ["used_memory", 1536],
    ["used_memory_human", "1.50K"],
  ]);
  assertEquals(renderInfo(families, "cityhall"), [["tables_per_level", "3,0,5"]]);
  assertEquals(renderInfo(families, "nothing"), []);
  // JSON: the registry's prefix plus the camelCase name, unless the declaration names a path.
  assertEquals(renderJson(families), {
    server: {
      keyspaceHits: 4,
      memoryUsedBytes: 1536,
      httpRequests: { v1_key: { "200": 1, "204": 2 } },
    },
    tablesPerLevel: [3, 0, 5],
  });
});

Deno.test("registry: histograms render cumulative buckets, +Inf, sum and count everywhere", () => {
  const r = new Registry();
  const h = r.histogram({
    name: "cityhall_http_request_duration_seconds",
    help: "HTTP request latency",
    unit: "seconds",
  }, [0.001, 0.01, 0.1]);
  for (const v of [0.0005, 0.001, 0.002, 0.05, 0.05, 3]) h.observe(v);
  assertEquals(h.counts, [2, 1, 2, 1]);
  assertEquals(h.count, 6);
  const vec = r.histogramVec({
    name: "cityhall_command_duration_seconds",
    help: "RESP command execution latency, by name",
    unit: "seconds",
    labels: ["command"],
  }, [0.5]);
  vec.get(["get"]).observe(0.25);
  vec.get(["get"]).observe(1);
  const text = renderPrometheus(r.families());
  const lines = text.split("\n");
  for (
    const want of [
      "# TYPE cityhall_http_request_duration_seconds histogram",
      'cityhall_http_request_duration_seconds_bucket{le="0.001"} 2',
      'cityhall_http_request_duration_seconds_bucket{le="0.01"} 3',
      'cityhall_http_request_duration_seconds_bucket{le="0.1"} 5',
      'cityhall_http_request_duration_seconds_bucket{le="+Inf"} 6',
      "cityhall_http_request_duration_seconds_count 6",
      'cityhall_command_duration_seconds_bucket{command="get",le="0.5"} 1',
      'cityhall_command_duration_seconds_bucket{command="get",le="+Inf"} 2',
      'cityhall_command_duration_seconds_sum{command="get"} 1.25',
      'cityhall_command_duration_seconds_count{command="get"} 2',
    ]
  ) assert(lines.includes(want), `missing ${want} in\n${text}`);
  const sum = lines.find((l) => l.startsWith("cityhall_http_request_duration_seconds_sum "));
  assert(Math.abs(Number(sum!.split(" ")[1]) - 3.1035) < 1e-9, sum);
  const json = renderJson(r.families()) as Record<string, { count: number; buckets: object }>;
  assertEquals(json.httpRequestDurationSeconds!.count, 6);
  assertEquals(json.httpRequestDurationSeconds!.buckets, [
    { le: "0.001", count: 2 },
    { le: "0.01", count: 3 },
    { le: "0.1", count: 5 },
    { le: "+Inf", count: 6 },
  ]);
  const info = renderInfo(r.families(), "cityhall");
  assertEquals(info[0]![0], "http_request_duration_seconds");
  assert(String(info[0]![1]).startsWith("count=6,"), String(info[0]![1]));
  assertEquals(info[1]![0], "command_duration_seconds_get");
  // Quantiles interpolate inside the bucket, as PromQL's histogram_quantile does.
  // 0.75 × 6 = 4.5th observation: 1.5 of the 2 in (0.01, 0.1].
  assert(Math.abs(h.quantile(0.75) - (0.01 + 0.09 * 0.75)) < 1e-12, String(h.quantile(0.75)));
  assertEquals(new Histogram([1]).quantile(0.5), NaN);
  // Adding needs the same bounds.
  assertThrows(() => h.add(new Histogram([1])), AssertionError);
  const copy = h.clone().add(h);
  assertEquals(copy.count, 12);
  r.reset();
  assertEquals(h.count, 0);
  assertEquals(vec.samples(), []);
});

Deno.test("registry: label values and help text are escaped", () => {
  const r = new Registry();
  r.collect({
    name: "cityhall_commands_total",
    help: "Commands by name \\ with a backslash",
    type: "counter",
    unit: "1",
    labels: ["command"],
  }, () => [{ labels: ['we"ird\\name\nline'], value: 1 }]);
  const text = renderPrometheus(r.families());
  assert(text.includes("# HELP cityhall_commands_total Commands by name \\\\ with a backslash\n"));
  assert(text.includes('cityhall_commands_total{command="we\\"ird\\\\name\\nline"} 1\n'), text);
  // External families (a fleet hub's) escape the same way.
  const ext = externalFamilies([{
    name: "cityhall_site_connected",
    type: "gauge",
    help: "1 when the link is up",
    samples: [{ labels: { site: 'a"b' }, value: 1 }],
  }]);
  assert(renderPrometheus(ext).includes('cityhall_site_connected{site="a\\"b"} 1'));
});

Deno.test("registry: a name declared twice, or against the naming rules, is refused", () => {
  const r = new Registry();
  r.counter({ name: "cityhall_puts_total", help: "Puts", unit: "1" });
  assertThrows(
    () =>
      r.collect({ name: "cityhall_puts_total", help: "x", type: "counter", unit: "1" }, () => 0),
    AssertionError,
    "declared twice",
  );
  const other = new Registry();
  other.counter({ name: "cityhall_puts_total", help: "Puts", unit: "1" });
  assertThrows(() => gather([r, other]), AssertionError, "two registries");
  const bad: [string, () => void][] = [
    ["counter without _total", () => r.counter({ name: "cityhall_puts", help: "x", unit: "1" })],
    [
      "gauge with _total",
      () => r.collect({ name: "cityhall_x_total", help: "x", type: "gauge", unit: "1" }, () => 0),
    ],
    [
      "unit not in the name",
      () =>
        r.collect({ name: "cityhall_wal_size", help: "x", type: "gauge", unit: "bytes" }, () => 0),
    ],
    [
      "bad characters",
      () => r.collect({ name: "cityhall-x", help: "x", type: "gauge", unit: "1" }, () => 0),
    ],
    [
      "empty help",
      () => r.collect({ name: "cityhall_y", help: "", type: "gauge", unit: "1" }, () => 0),
    ],
    [
      "reserved suffix",
      () => r.collect({ name: "cityhall_y_count", help: "x", type: "gauge", unit: "1" }, () => 0),
    ],
    ["label le", () =>
      r.collect(
        { name: "cityhall_z", help: "x", type: "gauge", unit: "1", labels: ["le"] },
        () => [],
      )],
  ];
  for (const [why, declare] of bad) assertThrows(declare, AssertionError, undefined, why);
  // A collect callback that breaks its declaration is caught at render time.
  const wrong = new Registry();
  wrong.collect(
    { name: "cityhall_w", help: "x", type: "gauge", unit: "1", labels: ["a"] },
    () => 1,
  );
  assertThrows(() => wrong.families(), AssertionError, "label values");
});

Deno.test("registry: attached registries come and go with their owner", () => {
  const owner = {};
  const a = new Registry();
  const b = new Registry();
  attachRegistry(owner, "resp", a);
  attachRegistry(owner, "http", b);
  assertEquals(attachedRegistries(owner), [a, b]);
  // Detaching someone else's registry under the same key changes nothing.
  detachRegistry(owner, "resp", b);
  assertEquals(attachedRegistries(owner), [a, b]);
  detachRegistry(owner, "resp", a);
  assertEquals(attachedRegistries(owner), [b]);
  // beforeCollect runs once per render, before the callbacks.
  let reads = 0;
  let snapshot = 0;
  b.beforeCollect(() => snapshot = ++reads);
  b.collect({ name: "cityhall_a", help: "a", type: "gauge", unit: "1" }, () => snapshot);
  b.collect({ name: "cityhall_b", help: "b", type: "gauge", unit: "1" }, () => snapshot);
  const f = b.families();
  assertEquals(f.map((x) => x.samples[0]!.value), [1, 1]);
  assertEquals(b.read("cityhall_b")!.samples[0]!.value, 2);
});

Deno.test("registry: every number Database.stats() reports is declared, under its stats() key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-metrics-test-" });
  const db = await Database.open(dir);
  try {
    await db.put(new TextEncoder().encode("k"), new TextEncoder().encode("v"));
    await db.flush();
    const stats = db.stats() as unknown as Record<string, unknown>;
    const json = renderJson(engineRegistry(db).families());
    const missing = Object.keys(stats).filter((k) =>
      (typeof stats[k] === "number" || Array.isArray(stats[k])) && !(k in json)
    );
    assertEquals(missing, []);
    assertEquals(json.puts, 1);
    assertEquals(json.tablesPerLevel, stats.tablesPerLevel);
    // Text facts stay beside the stats.
    assertEquals(engineFacts(db.stats()).compactionStyle, stats.compactionStyle);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
