/**
 * `serve --remote-write`: a real `cityhall serve` ships what Telegraf-style Influx writes stored
 * to a real Prometheus 2.42 started with `--web.enable-remote-write-receiver`; the receiver is
 * killed for over two minutes while samples keep arriving and comes back (same data directory,
 * same port), CityHall is restarted in between, and Prometheus must end up with every sample
 * exactly once. Then the retry rules against a
 * receiver served by the test: 429 with Retry-After and 5xx are retried, other 4xx are skipped
 * and counted, and the position file survives.
 */

import { assert, assertEquals } from "@std/assert";
import { freePort, type ServeProcess, startServe, tempDir } from "../cli/_helpers.ts";
import { decodeRemoteWrite } from "../../src/ingest/remote_write.ts";
import { Database } from "../../src/mod.ts";
import { TimeSeriesStore } from "../../src/timeseries/mod.ts";
import { RemoteWriteExporter, retryAfterMs } from "../../src/export/remote_write.ts";
import { decodePosition, encodePosition } from "../../src/export/position.ts";
import { exporterStats } from "../../src/export/registry.ts";
import { ingestSamples } from "../../src/ingest/store_writer.ts";
import { silentLogger } from "../../src/util/log.ts";
import { parseFilters } from "../../src/timeseries/labels.ts";
import type { Child } from "../_helpers/child.ts";
import { spawnPrometheus } from "../_helpers/prometheus.ts";

const enc = new TextEncoder();
/** How long each of the two down phases lasts (before and after CityHall's restart). */
const DOWN_PHASE_MS = 65_000;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 90_000) {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `INFO <section>` over RESP (inline command). */
async function info(port: number, section: string): Promise<Record<string, string>> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode(`INFO ${section}\r\n`));
  let text = "";
  const buf = new Uint8Array(65536);
  const dec = new TextDecoder();
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
    const m = /^\$(\d+)\r\n/.exec(text);
    if (m && text.length >= m[0].length + Number(m[1]) + 2) break;
  }
  conn.close();
  const out: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function startPrometheus(dir: string, port: number): Child {
  return spawnPrometheus(dir, port, { flags: ["--web.enable-remote-write-receiver"] });
}

async function samplesIn(prometheus: string, from: number, to: number): Promise<number[][]> {
  try {
    const r = await fetch(
      `${prometheus}/api/v1/query?${new URLSearchParams({
        query: `sensor_value{site="a"}[${Math.ceil((to - from) / 1000) + 60}s]`,
        time: String(to / 1000 + 1),
      })}`,
    );
    const body = await r.json();
    const values = body.data?.result?.[0]?.values ?? [];
    return values.map(([t, v]: [number, string]) => [Math.round(t * 1000), Number(v)]);
  } catch {
    return [];
  }
}

async function influx(url: string, lines: string[]): Promise<void> {
  const r = await fetch(`${url}/write?db=x&precision=ms`, {
    method: "POST",
    body: lines.join("\n"),
  });
  assertEquals(r.status, 204, await r.text());
}

Deno.test({
  name:
    "serve --remote-write ships to a real Prometheus that goes down and comes back, exactly once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [dir, cleanup] = await tempDir("cityhall-export-");
    await Deno.writeTextFile(`${dir}/prometheus.yml`, "global:\n  scrape_interval: 1h\n");
    const promPort = freePort();
    const prometheus = `http://127.0.0.1:${promPort}`;
    let prom = startPrometheus(dir, promPort);
    let serve: ServeProcess | undefined;
    const args = [
      "--remote-write",
      `${prometheus}/api/v1/write`,
      "--remote-write-filter",
      "site=(a,b)",
    ];
    try {
      await until("Prometheus ready", async () => {
        try {
          const r = await fetch(`${prometheus}/-/ready`);
          await r.body?.cancel();
          return r.status === 200;
        } catch {
          return false;
        }
      });
      serve = await startServe(`${dir}/data`, args);
      const url = () => `http://127.0.0.1:${serve!.httpPort}`;
      const t0 = Date.now() + 1000;
      const sent: number[][] = [];
      let next = 0;
      const writeMore = async (n: number) => {
        const lines = [];
        for (let i = 0; i < n; i++, next++) {
          const t = t0 + next * 1000;
          sent.push([t, next * 1.5]);
          lines.push(`sensor,site=a value=${next * 1.5} ${t}`, `sensor,site=z value=1 ${t}`);
        }
        await influx(url(), lines);
      };
      await writeMore(20);
      await until(
        "the first samples in Prometheus",
        async () => (await samplesIn(prometheus, t0, t0 + next * 1000)).length === next,
      );

      // The receiver goes down for minutes; CityHall keeps accepting and retrying, backing off
      // (capped) rather than hammering it, across a restart of its own.
      await prom.kill("SIGKILL");
      const downFor = async (ms: number) => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          await writeMore(2);
          await new Promise((r) => setTimeout(r, 3000));
        }
      };
      await writeMore(20);
      await until("the exporter retrying", async () => {
        const i = await info(serve!.port, "remote_write");
        return i.target0_retrying === "1" && Number(i.target0_retries) >= 2;
      });
      await downFor(DOWN_PHASE_MS);
      // CityHall restarts while the receiver is still down: the position is on disk.
      await serve.stop();
      serve = await startServe(`${dir}/data`, args);
      await downFor(DOWN_PHASE_MS);
      const retries = Number((await info(serve.port, "remote_write")).target0_retries);
      // Over a minute of 500 ms doubling to a 30 s cap is about 8 tries; a loop without
      // backoff would make thousands.
      assert(retries >= 2 && retries <= 30, `retries while down: ${retries}`);
      prom = startPrometheus(dir, promPort);
      await until(
        "every sample in Prometheus after it came back",
        async () => (await samplesIn(prometheus, t0, t0 + next * 1000)).length === next,
        120_000,
      );
      assertEquals(await samplesIn(prometheus, t0, t0 + next * 1000), sent);
      // The filter kept site=z out.
      const z = await fetch(
        `${prometheus}/api/v1/series?match[]=${encodeURIComponent("sensor_value")}`,
      );
      assertEquals((await z.json()).data.map((s: { site: string }) => s.site), ["a"]);
      // Prometheus stores a batch before its answer reaches the exporter, which then records it.
      await until("the exporter seeing its last batch acknowledged", async () => {
        const i = await info(serve!.port, "remote_write");
        return i.target0_retrying === "0" && i.target0_lag_ms === "0";
      });
      const i = await info(serve.port, "remote_write");
      assertEquals(i.target0_retrying, "0");
      assertEquals(i.target0_url, `${prometheus}/api/v1/write`);
      assert(Number(i.target0_bytes_sent) > 0);
      assertEquals(i.target0_lag_ms, "0");
      assertEquals(i.target0_samples_refused, "0");
      const metrics = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
      const sentLine = metrics.split("\n").find((l) =>
        l.startsWith(`cityhall_remote_write_samples_sent_total{url="${prometheus}/api/v1/write"}`)
      );
      assert(sentLine !== undefined && Number(sentLine.split(" ")[1]) > 0, metrics);
      assert(metrics.includes('cityhall_ingest_samples_total{protocol="influx"} '), metrics);
    } finally {
      await serve?.stop();
      await prom.kill("SIGKILL");
      await cleanup();
    }
  },
});

Deno.test("retryAfterMs() reads seconds and HTTP dates", () => {
  assertEquals(retryAfterMs("3"), 3000);
  assertEquals(retryAfterMs(null), undefined);
  assertEquals(retryAfterMs("soon"), undefined);
  const now = Date.parse("Mon, 30 Nov 2026 01:00:00 GMT");
  assertEquals(retryAfterMs("Mon, 30 Nov 2026 01:00:07 GMT", now), 7000);
});

Deno.test("the position file round-trips and refuses damage", () => {
  const p = { startMs: 1_700_000_000_000, shipped: new Map([[1, 5], [2 ** 40, 2 ** 52]]) };
  const bytes = encodePosition(p);
  assertEquals(bytes.length, 20 + 2 * 16 + 4);
  assertEquals(decodePosition(bytes), p);
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i]! ^= 0x10;
    let threw = false;
    try {
      decodePosition(bad);
    } catch {
      threw = true;
    }
    assert(threw, `flipped byte ${i} went unnoticed`);
  }
});

Deno.test({
  name: "exporter: 429 with Retry-After and 503 are retried, 400 is skipped and counted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [dir, cleanup] = await tempDir("cityhall-export-codes-");
    const answers = [429, 503, 204, 400, 204];
    const got: { at: number; samples: number[] }[] = [];
    const port = freePort();
    const receiver = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      async (req) => {
        const body = new Uint8Array(await req.arrayBuffer());
        const decoded = decodeRemoteWrite(body);
        got.push({ at: Date.now(), samples: [...decoded.timestamps] });
        const status = answers.shift() ?? 204;
        const headers: Record<string, string> = status === 429 ? { "retry-after": "1" } : {};
        return new Response(status === 204 ? null : "no", { status, headers });
      },
    );
    const db = await Database.open(`${dir}/db`);
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    const target = { key: "m", name: "m", labels: [] };
    const write = async (ts: number[]) => {
      const r = ingestSamples(store, {
        samples: ts.length,
        seriesOf: () => target,
        timestamps: Float64Array.from(ts),
        values: Float64Array.from(ts, (t) => t / 1000),
      });
      await r.durable;
    };
    let exporter: RemoteWriteExporter | undefined;
    try {
      exporter = await RemoteWriteExporter.start({
        url: `http://127.0.0.1:${port}/api/v1/write`,
        store,
        dataDir: dir,
        logger: silentLogger,
        intervalMs: 50,
        backoffBaseMs: 10,
        backoffMaxMs: 50,
        nowMs: () => 999,
      });
      assert(exporterStats().some((s) => s.url === `http://127.0.0.1:${port}/api/v1/write`));
      await write([1000, 2000]);
      await until("the first batch acknowledged", () => exporter!.stats().requestsSent === 1);
      // 429 (Retry-After: 1 s) and 503 were retried with the same samples.
      assertEquals(got.slice(0, 3).map((g) => g.samples), [[1000, 2000], [1000, 2000], [
        1000,
        2000,
      ]]);
      assert(got[1]!.at - got[0]!.at >= 900, "Retry-After honoured");
      assertEquals(exporter.stats().retries, 2);
      await write([3000]);
      await until("the 400 counted", () => exporter!.stats().requestsRefused === 1);
      await write([4000]);
      await until("the next batch acknowledged", () => exporter!.stats().requestsSent === 2);
      assertEquals(got.map((g) => g.samples).slice(3), [[3000], [4000]]);
      const stats = exporter.stats();
      assertEquals([stats.samplesSent, stats.samplesRefused, stats.lagMs], [3, 1, 0]);
      assert(stats.lastError.startsWith("HTTP 400"), stats.lastError);
      await exporter.stop();
      // A restart resumes after the position: nothing is sent again.
      exporter = await RemoteWriteExporter.start({
        url: `http://127.0.0.1:${port}/api/v1/write`,
        store,
        dataDir: dir,
        logger: silentLogger,
        intervalMs: 50,
      });
      await write([5000]);
      await until("the sample after the restart", () => exporter!.stats().requestsSent === 1);
      assertEquals(got.at(-1)!.samples, [5000]);
      assertEquals(got.length, 6);
    } finally {
      await exporter?.stop();
      await receiver.shutdown();
      await store.close();
      await db.close();
      await cleanup();
    }
  },
});

Deno.test({
  name: "exporter: --remote-write-rollups-only and --remote-write-filter choose the series shipped",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [dir, cleanup] = await tempDir("cityhall-export-select-");
    const names = new Set<string>();
    const port = freePort();
    const receiver = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      async (req) => {
        const decoded = decodeRemoteWrite(new Uint8Array(await req.arrayBuffer()));
        for (const s of decoded.series) names.add(`${s.name}|${s.key}`);
        return new Response(null, { status: 204 });
      },
    );
    const db = await Database.open(`${dir}/db`);
    const store = TimeSeriesStore.open(db, { maintenanceIntervalMs: 0 });
    const exporters: RemoteWriteExporter[] = [];
    try {
      const key = (k: string) => enc.encode(k);
      await store.create(key("raw"), { labels: [["site", "a"]] }).durable;
      await store.create(key("raw:1s"), { labels: [["site", "b"]] }).durable;
      await store.createRule(key("raw"), key("raw:1s"), {
        aggregator: "avg",
        bucketMs: 1000,
        alignMs: 0,
        backfill: false,
      }).durable;
      for (const [i, ts] of [[0, 1000], [1, 1500], [2, 2100], [3, 3200]] as const) {
        await store.add({ key: key("raw"), ts, value: i }).durable;
      }
      const start = (url: string, extra: object) =>
        RemoteWriteExporter.start({
          url,
          store,
          dataDir: dir,
          logger: silentLogger,
          intervalMs: 50,
          nowMs: () => 0,
          ...extra,
        });
      exporters.push(await start(`http://127.0.0.1:${port}/rollups`, { rollupsOnly: true }));
      await until("the rollup shipped", () => exporters[0]!.stats().samplesSent === 2);
      assertEquals([...names], ['raw:1s|raw:1s{site="b"}']);
      names.clear();
      exporters.push(
        await start(`http://127.0.0.1:${port}/filtered`, { filter: parseFilters(["site=a"]) }),
      );
      await until("the filtered series shipped", () => exporters[1]!.stats().samplesSent === 4);
      assertEquals([...names], ['raw|raw{site="a"}']);
    } finally {
      for (const e of exporters) await e.stop();
      await receiver.shutdown();
      await store.close();
      await db.close();
      await cleanup();
    }
  },
});
