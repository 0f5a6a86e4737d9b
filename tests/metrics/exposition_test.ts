/**
 * `/metrics` of a running `cityhall serve` (a child process): every family has one HELP and one
 * TYPE line before its samples, Prometheus's own `promtool check metrics` accepts the text, and
 * a stat declared once in the registry shows the same number in `/metrics`, INFO and
 * `/v1/stats` (ARCHITECTURE.md § "Metrics registry").
 */

import { assert, assertEquals } from "@std/assert";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import { Database } from "../../src/mod.ts";
import { startServer } from "../../src/server/mod.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { attachedRegistries } from "../../src/metrics/mod.ts";
import { silentLogger } from "../../src/util/log.ts";
import { runChild } from "../_helpers/child.ts";

const PROMTOOL = "/usr/bin/promtool";

/** Checks the HELP/TYPE structure; returns the samples as `name{labels}` → value. */
function structure(text: string): Map<string, number> {
  const help = new Map<string, number>();
  const type = new Map<string, string>();
  const samples = new Map<string, number>();
  const problems: string[] = [];
  for (const line of text.trimEnd().split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta;
      const seen = kind === "HELP" ? help : type;
      if (seen.has(name!)) problems.push(`second ${kind} for ${name}`);
      if (kind === "HELP") help.set(name!, 1);
      else type.set(name!, rest!);
      continue;
    }
    if (line.startsWith("#")) {
      problems.push(`unknown comment: ${line}`);
      continue;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? "";
    const base = name.replace(/_(bucket|sum|count)$/, "");
    const family = type.has(name) ? name : type.get(base) === "histogram" ? base : undefined;
    if (family === undefined) problems.push(`sample before its TYPE: ${line}`);
    else if (!help.has(family)) problems.push(`sample without HELP: ${line}`);
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  for (const name of help.keys()) if (!type.has(name)) problems.push(`HELP without TYPE: ${name}`);
  for (const name of type.keys()) if (!help.has(name)) problems.push(`TYPE without HELP: ${name}`);
  assertEquals(problems, []);
  return samples;
}

async function promtool(text: string): Promise<{ code: number; output: string }> {
  const out = await runChild(PROMTOOL, ["check", "metrics"], { stdin: text });
  return { code: out.code, output: out.stdout + out.stderr };
}

function infoFields(info: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of info.split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

Deno.test("metrics: /metrics of a running server has HELP and TYPE everywhere and passes promtool", async () => {
  const [dir, cleanup] = await tempDir("cityhall-metrics-test-");
  const serve = await startServe(dir);
  try {
    const base = `http://127.0.0.1:${serve.httpPort}`;
    const redis = await connectRedis(serve.port);
    try {
      await redis.set("a", "1");
      await redis.set('we"ird\\key', "2");
      await redis.get("a");
      await redis.get("missing");
      await redis.call("nosuchcommand").catch(() => {});
      const put = await fetch(`${base}/v1/keys/h`, { method: "PUT", body: "x" });
      await put.body?.cancel();
      const miss = await fetch(`${base}/nope`);
      await miss.body?.cancel();

      const res = await fetch(`${base}/metrics`);
      assertEquals(res.status, 200);
      const text = await res.text();
      const samples = structure(text);
      const checked = await promtool(text);
      assertEquals(checked.code, 0, `promtool check metrics:\n${checked.output}`);
      assertEquals(checked.output.trim(), "", `promtool check metrics:\n${checked.output}`);

      // Each part's families are there: engine, RESP, HTTP, ingest.
      for (
        const name of [
          "cityhall_puts_total",
          'cityhall_sstables{level="0"}',
          'cityhall_commands_total{command="set"}',
          'cityhall_command_duration_seconds_count{command="get"}',
          "cityhall_keyspace_hits_total",
          "cityhall_connected_clients",
          "cityhall_memory_rss_bytes",
          'cityhall_http_requests_total{route="unknown",code="404"}',
          'cityhall_ingest_samples_total{protocol="influx"}',
        ]
      ) assert(samples.has(name), `missing ${name}`);

      // The same stat, declared once, in all three views (HTTP requests do not move these).
      const stats = await (await fetch(`${base}/v1/stats`)).json();
      const info = infoFields(String(await redis.call("info", "all")));
      assertEquals(samples.get("cityhall_puts_total"), stats.puts);
      assertEquals(String(stats.puts), info.get("puts"));
      assertEquals(samples.get("cityhall_keyspace_hits_total"), 1);
      assertEquals(stats.server.keyspaceHits, 1);
      assertEquals(info.get("keyspace_hits"), "1");
      assertEquals(info.get("keyspace_misses"), "1");
      assertEquals(stats.server.commands.set, 2);
      assertEquals(samples.get('cityhall_commands_total{command="set"}'), 2);
      assertEquals(info.get("cmdstat_set")?.startsWith("calls=2,"), true);
      assertEquals(info.get("tables_per_level"), stats.tablesPerLevel.join(","));
      // INFO shows the HTTP front's stats too (its registry is attached to the same database).
      assertEquals(info.get("http_requests_unknown_404"), "1");
      assertEquals(stats.http.requests.unknown["404"], 1);
      // Redis's own names where Redis clients read them.
      for (const field of ["used_memory", "used_memory_human", "instantaneous_ops_per_sec"]) {
        assert(info.has(field), `INFO lacks ${field}`);
      }
    } finally {
      await closeRedis(redis);
    }
  } finally {
    await serve.stop();
    await cleanup();
  }
});

Deno.test("metrics: servers attach their registries to the database while they run, and detach on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-metrics-test-" });
  const db = await Database.open(dir);
  const resp = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  const http = await startHttpServer(db, { hostname: "127.0.0.1", port: 0, logger: silentLogger });
  const redis = await connectRedis(resp.addr.port);
  try {
    const res = await fetch(`${http.url}/metrics`);
    const text = await res.text();
    // The HTTP server's /metrics shows the RESP server's stats, and INFO the HTTP front's.
    assert(text.includes("\ncityhall_connected_clients 1\n"), text);
    assert(String(await redis.call("info", "all")).includes("# Http\r\n"));
    await http.shutdown();
    const info = String(await redis.call("info", "all"));
    assert(!info.includes("# Http\r\n"), info);
    assertEquals(attachedRegistries(db).length, 2); // the engine's and the RESP server's
  } finally {
    await closeRedis(redis);
    await http.shutdown();
    await resp.close();
    assertEquals(attachedRegistries(db).length, 1);
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
