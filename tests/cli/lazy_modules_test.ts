/**
 * `cityhall serve` loads at start only what an idle RESP server needs (issue 9's idle RSS):
 * every other command, the HTTP API (PromQL, ingest, the console), the remote-write exporter
 * and the host agent are dynamic `import()`s of static specifiers, loaded when used. Checked on
 * the module graph `deno info` reports (dynamic imports are marked there), so a new static
 * import that pulls one of them back in fails here, not only in the RSS bench.
 */

import { assert, assertEquals } from "@std/assert";
import { runDeno } from "../_helpers/child.ts";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { runCli, startServe, tempDir } from "./_helpers.ts";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

const ROOT = new URL("../../", import.meta.url).href;

/** The repository paths of the modules `entry` imports statically, transitively. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const r = await runDeno(["info", "--json", new URL(entry, ROOT).pathname]);
  assertEquals(r.code, 0, r.stderr);
  const modules = new Map<string, InfoModule>();
  for (const m of (JSON.parse(r.stdout) as { modules: InfoModule[] }).modules) {
    modules.set(m.specifier, m);
  }
  const seen = new Set<string>();
  const stack = [new URL(entry, ROOT).href, new URL("src/cli/serve.ts", ROOT).href];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const dep of modules.get(s)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) stack.push(dep.code.specifier);
    }
  }
  return new Set([...seen].map((s) => s.startsWith(ROOT) ? s.slice(ROOT.length) : s));
}

Deno.test("cityhall serve's static module graph leaves out the HTTP API, other commands, lazily loaded command groups, the time-series layer, remote write and the agent", async () => {
  const graph = await staticGraph("src/main.ts");
  assert(graph.has("src/server/mod.ts"), "the RESP server is loaded at start");
  assert(graph.has("src/engine/mod.ts"), "the engine is loaded at start");
  const lazy = [
    "src/http/",
    "src/promql/",
    "src/console/",
    "src/fleet/",
    "src/agent/mod.ts",
    "src/export/remote_write.ts",
    "src/verify/",
    "src/salvage/",
    "src/cli/client.ts",
    "src/cli/hub.ts",
    "src/cli/replication.ts",
    "src/cli/uplink.ts",
    // Command groups loaded by their first command (src/server/commands/mod.ts).
    "src/server/commands/hash.ts",
    "src/server/commands/set.ts",
    "src/server/commands/list.ts",
    "src/server/commands/zset",
    "src/server/commands/sort.ts",
    "src/server/commands/dump.ts",
    "src/server/dump_payload.ts",
    "src/server/commands/bits.ts",
    "src/server/commands/lcs.ts",
    "src/server/commands/introspection.ts",
    "src/server/commands/pubsub.ts",
    "src/server/commands/blocking.ts",
    "src/server/commands/timeseries",
    // Commands of groups loaded at start whose handlers load with their first call
    // (src/server/commands/_lazy_handler.ts).
    "src/server/commands/info.ts",
    "src/server/commands/config.ts",
    "src/server/commands/client.ts",
    "src/server/commands/command_info.ts",
    "src/server/commands/command_getkeys.ts",
    // The RESP server's stats: declared when first asked for (metrics/attach.ts loaders).
    "src/server/metric_decls.ts",
    "src/metrics/registry.ts",
    "src/metrics/render.ts",
    // The time-series layer: opened by the RESP server when first needed
    // (src/server/_timeseries_slot.ts); flag parsing keeps its labels and meta helpers.
    "src/timeseries/mod.ts",
    "src/timeseries/store.ts",
    "src/timeseries/series_set.ts",
    "src/timeseries/write.ts",
    "src/timeseries/query.ts",
    "src/timeseries/codec.ts",
    "src/timeseries/head.ts",
    // Table writing and the compaction job: loaded by the first flush and compaction
    // (src/engine/_flusher.ts, src/compaction/compactor.ts), the fork past WAL damage by an
    // open that asks for it (src/engine/database.ts).
    "src/compaction/table_writer.ts",
    "src/compaction/job.ts",
    "src/sstable/table_builder.ts",
    "src/sstable/block_builder.ts",
    "src/engine/_fork.ts",
    "npm:uplot",
  ];
  const loaded = [...graph].filter((m) => lazy.some((prefix) => m.startsWith(prefix)));
  assertEquals(loaded, [], "loaded statically by serve (make them dynamic imports)");
});

Deno.test("cityhall serve loads no Node.js module and no npm package at start", async () => {
  // The first node: import, CommonJS package (SnappyJS was one) or touch of the global `process`
  // (@std/path's platform-choosing modules ask process.platform) loads Deno's Node layer: 2-4
  // MiB of an idle server's RSS; the first npm package of any kind brings in Deno's npm
  // resolver: ~1 MiB more (ARCHITECTURE.md § "Memory"). Flag parsing, path functions and the
  // token comparison are CityHall's own (on Windows, `_path.ts` imports @std/path's).
  const graph = await staticGraph("src/main.ts");
  const foreign = [...graph].filter((m) => m.startsWith("node:") || m.startsWith("npm:"));
  assertEquals(
    foreign,
    [],
    "Node or npm modules in serve's static graph (make them dynamic imports)",
  );
});

Deno.test("cityhall help TOPIC prints each command's help, loaded on demand", async () => {
  for (
    const topic of [
      "serve",
      "client",
      "service",
      "ts",
      "leader",
      "replica",
      "hub",
      "uplink",
      "export",
      "version",
      "verify",
      "salvage",
      "import",
      "selftest",
      "get",
    ]
  ) {
    const r = await runCli(["help", topic]);
    assertEquals(r.code, 0, `help ${topic}: ${r.stderr}`);
    assert(r.stdout.startsWith("Usage: cityhall"), `help ${topic}: ${r.stdout.slice(0, 80)}`);
  }
});

Deno.test("serve's static module graph is Latin-1 text (V8 would keep its source two bytes per character)", async () => {
  // V8 stores a module's source one byte per character only when every character is Latin-1: a
  // single arrow or dash in a comment doubles the memory the whole source takes in every server
  // (ARCHITECTURE.md § "Memory"). Comments use ASCII (->, <=, --, ...); a string that must hold
  // such a character spells it as an escape (\u2026).
  // serve's start graph, and the time-series layer it opens at start when the data holds series.
  const graph = new Set([
    ...await staticGraph("src/main.ts"),
    ...await staticGraph("src/timeseries/mod.ts"),
  ]);
  const wide: string[] = [];
  for (const m of [...graph].sort()) {
    if (!m.startsWith("src/")) continue;
    if (/[\u0100-\uffff]/.test(await Deno.readTextFile(new URL(m, ROOT)))) wide.push(m);
  }
  assertEquals(wide, [], "characters past Latin-1 in these modules");
});

Deno.test("cityhall serve loads table writing with its first flush and the compaction job with its first compaction", async () => {
  // Both are dynamic imports an idle server never runs. A 1 MiB memtable filled three times
  // over the same keys flushes several overlapping tables, which a compaction then merges.
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir, [
      "--no-http",
      "--memtable-mb",
      "1",
      "--sync",
      "none",
      "--log-level",
      "debug",
    ]);
    const value = "v".repeat(300);
    for (let round = 0; round < 3; round++) {
      const input = Array.from({ length: 6000 }, (_, i) => `SET key${i} ${value}${round}`);
      const r = await runCli(["client", "--port", String(serve.port)], {
        stdin: input.join("\n") + "\n",
      });
      assertEquals(r.code, 0, r.stderr);
    }
    await serve.proc.waitForLine('msg="flushed memtable"');
    await serve.proc.waitForLine('msg="compacted"');
    assertEquals(await serve.stop("SIGTERM"), 0);
    const db = await Database.open(dir);
    for (const i of [0, 2999, 5999]) {
      assertEquals(fromBytes((await db.get(`key${i}`))!), `${value}2`);
    }
    await db.close();
  } finally {
    await cleanup();
  }
});
