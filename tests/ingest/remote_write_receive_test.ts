/**
 * `POST /api/v1/write` into the store: a real Prometheus 2.42 (Debian's) scrapes a target served
 * by this test and remote-writes to a real `cityhall serve` (bearer token); CityHall's query
 * API must then answer like Prometheus's own, staleness markers included. Plus the status codes
 * of Remote-Write 1.0 for what a sender can get wrong.
 */

import { assert, assertEquals } from "@std/assert";
import { freePort, startServe, tempDir } from "../cli/_helpers.ts";
import { encodeRemoteWrite } from "../../src/ingest/remote_write.ts";
import { snappyCompress } from "../../src/util/snappy.ts";
import { spawnPrometheus } from "../_helpers/prometheus.ts";

const TOKEN = "remote-write-receive-token-0123456789";

async function rangeOf(base: string, query: string, start: number, end: number, auth = false) {
  const r = await fetch(
    `${base}/api/v1/query_range?${new URLSearchParams({
      query,
      start: String(start),
      end: String(end),
      step: "1",
    })}`,
    { headers: auth ? { Authorization: `Bearer ${TOKEN}` } : {} },
  );
  const body = await r.json();
  if (r.status !== 200) throw new Error(`${base}: ${r.status} ${JSON.stringify(body)}`);
  return body.data.result;
}

Deno.test({
  name: "a real Prometheus 2.42 remote-writes into CityHall; both answer alike, staleness included",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let scrapes = 0;
    const targetPort = freePort();
    const target = Deno.serve(
      { hostname: "127.0.0.1", port: targetPort, onListen: () => {} },
      () => {
        scrapes++;
        const lines = [
          "# TYPE rw_gauge gauge",
          `rw_gauge{room="lab \\"1\\"",unit="°C"} ${20 + (scrapes % 5) / 4}`,
          "# TYPE rw_total counter",
          `rw_total ${scrapes * 3}`,
          `rw_odd ${scrapes % 3 === 0 ? "NaN" : scrapes % 3 === 1 ? "+Inf" : "-0.5e-9"}`,
        ];
        if (scrapes <= 4) lines.push("rw_leaving 1");
        return new Response(lines.join("\n") + "\n", {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      },
    );
    const [dir, cleanup] = await tempDir("cityhall-rw-receive-");
    await Deno.writeTextFile(`${dir}/token`, TOKEN);
    await Deno.mkdir(`${dir}/data`);
    const serve = await startServe(`${dir}/data`, ["--auth-token-file", `${dir}/token`]);
    const cityhall = `http://127.0.0.1:${serve.httpPort}`;
    const promPort = freePort();
    const prometheus = `http://127.0.0.1:${promPort}`;
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: target
    static_configs:
      - targets: ["127.0.0.1:${targetPort}"]
remote_write:
  - url: ${cityhall}/api/v1/write
    authorization:
      credentials: ${TOKEN}
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 20
`,
    );
    const child = spawnPrometheus(dir, promPort, { tsdb: "prom" });
    try {
      const started = Math.floor(Date.now() / 1000);
      // Until the leaving series went stale in CityHall (the scrape after the 4th).
      const deadline = Date.now() + 120_000;
      let stale = false;
      while (!stale && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        if (scrapes < 8) continue;
        const now = Math.floor(Date.now() / 1000);
        const got = await rangeOf(cityhall, "rw_leaving", started - 5, now, true);
        const lastPoint = got[0]?.values.at(-1)?.[0] as number | undefined;
        // Stale: the series stops well before now although Prometheus still writes others.
        stale = lastPoint !== undefined && now - lastPoint >= 4;
      }
      assert(stale, "rw_leaving never went stale in CityHall");
      // Compare a window both certainly hold: poll until equal (remote write is asynchronous).
      const end = Math.floor(Date.now() / 1000) - 3;
      const queries = ["rw_gauge", "rw_total", "rw_leaving", "rw_odd", "up", "rate(rw_total[5s])"];
      let diffs: string[] = [];
      const until = Date.now() + 60_000;
      do {
        diffs = [];
        for (const q of queries) {
          const want = await rangeOf(prometheus, q, started - 5, end);
          const got = await rangeOf(cityhall, q, started - 5, end, true);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            diffs.push(`${q}: prometheus ${JSON.stringify(want)}\ncityhall ${JSON.stringify(got)}`);
          }
        }
        if (diffs.length > 0) await new Promise((r) => setTimeout(r, 1000));
      } while (diffs.length > 0 && Date.now() < until);
      assertEquals(diffs, []);
      const labels = await rangeOf(cityhall, "rw_gauge", started - 5, end, true);
      assertEquals(labels[0].metric, {
        __name__: "rw_gauge",
        instance: `127.0.0.1:${targetPort}`,
        job: "target",
        room: 'lab "1"',
        unit: "°C",
      });
    } finally {
      await child.kill("SIGKILL");
      await target.shutdown();
      await serve.stop();
      await cleanup();
    }
  },
});

Deno.test({
  name: "remote write receive: Remote-Write 1.0 status codes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [dir, cleanup] = await tempDir("cityhall-rw-codes-");
    const serve = await startServe(dir);
    const url = `http://127.0.0.1:${serve.httpPort}/api/v1/write`;
    const headers = { "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy" };
    try {
      const ok = encodeRemoteWrite([{
        labels: [["__name__", "m"], ["a", "b"]],
        timestamps: [1_700_000_000_000],
        values: Float64Array.of(1),
      }]) as Uint8Array<ArrayBuffer>;
      let r = await fetch(url, { method: "POST", headers, body: ok });
      assertEquals(r.status, 204);
      await r.body?.cancel();
      // The same sample again (a retry after a lost answer) is fine.
      r = await fetch(url, { method: "POST", headers, body: ok });
      assertEquals(r.status, 204);
      await r.body?.cancel();
      // Not Snappy, or a protobuf that does not decode: 400 (retrying cannot help).
      r = await fetch(url, { method: "POST", headers, body: new Uint8Array([0xff, 0xff, 0xff]) });
      assertEquals(r.status, 400);
      await r.body?.cancel();
      r = await fetch(url, {
        method: "POST",
        headers,
        body: snappyCompress(new Uint8Array([0x0a, 0x7f])) as Uint8Array<ArrayBuffer>,
      });
      assertEquals(r.status, 400);
      assert((await r.json()).error.includes("Cannot decode remote write request"));
      // A sample the store cannot hold (before 1970): 400, the other sample is kept.
      r = await fetch(url, {
        method: "POST",
        headers,
        body: encodeRemoteWrite([{
          labels: [["__name__", "m2"]],
          timestamps: [-1000, 1_700_000_000_000],
          values: Float64Array.of(1, 2),
        }]) as Uint8Array<ArrayBuffer>,
      });
      assertEquals(r.status, 400);
      assert((await r.json()).error.includes("1 of 2 samples refused"));
      r = await fetch(`http://127.0.0.1:${serve.httpPort}/api/v1/query?query=m2&time=1700000000`);
      assertEquals((await r.json()).data.result[0].value, [1_700_000_000, "2"]);
      // Another encoding or content type: 415.
      r = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      assertEquals(r.status, 415);
      await r.body?.cancel();
      r = await fetch(url, { method: "GET" });
      assertEquals(r.status, 405);
      await r.body?.cancel();
    } finally {
      await serve.stop();
      await cleanup();
    }
  },
});
