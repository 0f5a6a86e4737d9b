/**
 * The Influx endpoints on a real HTTP server over a real store, replaying the requests
 * Telegraf's `outputs.influxdb` (v1) and `outputs.influxdb_v2` send (as documented and as their
 * source builds them: headers, query parameters, gzip bodies, the v1 `CREATE DATABASE`), then
 * reading what was stored back through the Prometheus query API.
 */

import { assert, assertEquals } from "@std/assert";
import { gzipSync as nodeGzip } from "node:zlib";
import { type Harness, withServer } from "../http/_helpers.ts";
import { ingestCounters } from "../../src/ingest/counters.ts";

const TOKEN = "influx-test-token-0123456789";
const TELEGRAF_UA = "Telegraf/1.28.5 Go/1.21.5";

function gzipSync(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(nodeGzip(data));
}

function basic(user: string, password: string): string {
  return "Basic " + btoa(`${user}:${password}`);
}

async function instant(h: Harness, query: string, time: number): Promise<unknown[]> {
  const r = await h.fetch("/api/v1/query", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ query, time: String(time) }),
  });
  const body = await r.json();
  assertEquals(r.status, 200, JSON.stringify(body));
  return body.data.result;
}

/** A Telegraf-sized batch: `lines` lines of cpu metrics over 10 hosts, ns timestamps. */
function telegrafBatch(lines: number, t0s: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const host = `edge-${String(i % 10).padStart(2, "0")}`;
    const ts = BigInt(t0s + Math.floor(i / 10)) * 1_000_000_000n;
    out.push(
      `cpu,cpu=cpu-total,host=${host} usage_user=${(i % 97) / 10},usage_idle=${
        90 + (i % 7)
      }i,online=true,model="x86" ${ts}`,
    );
  }
  return out.join("\n") + "\n";
}

Deno.test("influx v1: Telegraf's CREATE DATABASE, then a gzip'ed /write with basic auth", async () => {
  await withServer(async (h) => {
    // outputs.influxdb: POST /query, form body q=CREATE DATABASE "telegraf", basic auth.
    let r = await fetch(`${h.url}/query`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": TELEGRAF_UA,
        Authorization: basic("telegraf", TOKEN),
      },
      body: new URLSearchParams({ q: 'CREATE DATABASE "telegraf"' }),
    });
    assertEquals(r.status, 200);
    assertEquals(await r.json(), { results: [{ statement_id: 0 }] });

    const t0 = 1_700_000_000;
    const before = ingestCounters.influxStringFieldsSkipped;
    r = await fetch(`${h.url}/write?db=telegraf&rp=autogen`, {
      method: "POST",
      headers: {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Encoding": "gzip",
        "User-Agent": TELEGRAF_UA,
        Authorization: basic("telegraf", TOKEN),
      },
      body: gzipSync(new TextEncoder().encode(telegrafBatch(5000, t0))),
    });
    assertEquals(r.status, 204, await r.text());
    assertEquals(ingestCounters.influxStringFieldsSkipped - before, 5000);

    const user = await instant(h, 'cpu_usage_user{host="edge-03"}', t0 + 499);
    assertEquals(user, [{
      metric: { __name__: "cpu_usage_user", cpu: "cpu-total", host: "edge-03" },
      value: [t0 + 499, String((4993 % 97) / 10)],
    }]);
    const idle = await instant(h, "count(cpu_usage_idle)", t0 + 499);
    assertEquals((idle[0] as { value: unknown[] }).value[1], "10");
    const online = await instant(h, 'cpu_online{host="edge-00"}', t0 + 499);
    assertEquals((online[0] as { value: unknown[] }).value[1], "1");
    assertEquals(await instant(h, "cpu_model", t0 + 499), []);
  }, { authToken: TOKEN });
});

Deno.test("influx v2: Telegraf's /api/v2/write with Authorization: Token and gzip", async () => {
  await withServer(async (h) => {
    const r = await fetch(`${h.url}/api/v2/write?bucket=telegraf&org=edge`, {
      method: "POST",
      headers: {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Encoding": "gzip",
        "User-Agent": TELEGRAF_UA,
        Authorization: `Token ${TOKEN}`,
      },
      body: gzipSync(new TextEncoder().encode(
        "mem,host=edge-01 used_percent=42.5,available=1024u 1700000000000000000\n" +
          "disk,host=edge-01,path=/ free=7i,ok=F 1700000000000000000\n",
      )),
    });
    assertEquals(r.status, 204, await r.text());
    const got = await instant(h, '{host="edge-01"}', 1_700_000_000);
    const byName = Object.fromEntries(
      (got as { metric: Record<string, string>; value: unknown[] }[]).map((
        s,
      ) => [s.metric.__name__, s.value[1]]),
    );
    assertEquals(byName, {
      mem_used_percent: "42.5",
      mem_available: "1024",
      disk_free: "7",
      disk_ok: "0",
    });
  }, { authToken: TOKEN });
});

Deno.test("influx: precision, v1's p= token, missing timestamps and the series key", async () => {
  await withServer(async (h) => {
    let r = await fetch(`${h.url}/write?db=x&precision=s&u=any&p=${TOKEN}`, {
      method: "POST",
      body:
        "weather,site=b\\ lab,area=n temp=-3.5 1700000000\nweather,area=n,site=b\\ lab rh=80 1700000001\n",
    });
    assertEquals(r.status, 204, await r.text());
    r = await fetch(`${h.url}/write?db=x&precision=ms&p=${TOKEN}`, {
      method: "POST",
      body: "now_gauge v=1\n",
    });
    assertEquals(r.status, 204);
    const temp = await instant(h, "weather_temp", 1_700_000_000);
    assertEquals(temp, [{
      metric: { __name__: "weather_temp", area: "n", site: "b lab" },
      value: [1_700_000_000, "-3.5"],
    }]);
    // The series key is canonical (labels sorted), so TS.* commands can find it.
    const ts = h.db.getEntry(new TextEncoder().encode('weather_rh{area="n",site="b lab"}'));
    assert(ts !== undefined, "series stored under its canonical key");
    const now = await instant(h, "now_gauge_v", Date.now() / 1000);
    assertEquals(now.length, 1);
  }, { authToken: TOKEN });
});

Deno.test("influx: a bad line is a 400 naming it, and the good lines are kept", async () => {
  await withServer(async (h) => {
    const before = ingestCounters.influxBadLines;
    for (const [path, shape] of [["/write?db=t", "v1"], ["/api/v2/write?bucket=t", "v2"]]) {
      const r = await h.fetch(path!, {
        method: "POST",
        body:
          "good a=1 1700000000000000000\n# comment\nbad line here\ngood b=2 1700000000000000000\n" +
          "worse,x= y=1\n",
      });
      assertEquals(r.status, 400);
      const body = await r.json();
      assertEquals(body.line, 3);
      const message: string = shape === "v1" ? body.error : body.message;
      assert(message.startsWith("partial write: unable to parse line 3: "), message);
      assert(message.includes("(and 1 more)"), message);
      if (shape === "v2") assertEquals(body.code, "invalid");
    }
    assertEquals(ingestCounters.influxBadLines - before, 4);
    const kept = await instant(h, '{__name__=~"good_.*"}', 1_700_000_000);
    assertEquals(kept.length, 2);
  }, { authToken: TOKEN });
});

Deno.test("influx: 401 without the token, /ping without one, 413, bad gzip and precision", async () => {
  await withServer(async (h) => {
    let r = await fetch(`${h.url}/write?db=t`, { method: "POST", body: "a b=1\n" });
    assertEquals(r.status, 401);
    await r.body?.cancel();
    r = await fetch(`${h.url}/api/v2/write?bucket=t`, {
      method: "POST",
      headers: { Authorization: "Token wrong-token-wrong-token" },
      body: "a b=1\n",
    });
    assertEquals(r.status, 401);
    await r.body?.cancel();
    r = await fetch(`${h.url}/write?db=t`, {
      method: "POST",
      headers: { Authorization: basic("u", "wrong") },
      body: "a b=1\n",
    });
    assertEquals(r.status, 401);
    await r.body?.cancel();
    // p= is taken on the Influx paths only.
    r = await fetch(`${h.url}/v1/stats?p=${TOKEN}`);
    assertEquals(r.status, 401);
    await r.body?.cancel();
    for (const method of ["GET", "HEAD"]) {
      r = await fetch(`${h.url}/ping`, { method });
      assertEquals(r.status, 204);
      assertEquals(r.headers.get("x-influxdb-version"), "1.8.10");
      await r.body?.cancel();
    }
    // 413: over the body limit (the harness lowers it), plain or after gzip decoding.
    r = await h.fetch("/write?db=t", { method: "POST", body: "x v=1\n".repeat(40_000) });
    assertEquals(r.status, 413);
    assert((await r.json()).error.includes("too large"));
    r = await h.fetch("/write?db=t", {
      method: "POST",
      headers: { "Content-Encoding": "gzip" },
      body: new Uint8Array([1, 2, 3, 4]),
    });
    assertEquals(r.status, 400);
    assert((await r.json()).error.startsWith("Cannot decode gzip body"));
    r = await h.fetch("/api/v2/write?bucket=t&precision=n", { method: "POST", body: "x v=1\n" });
    assertEquals(r.status, 400);
    assertEquals((await r.json()).code, "invalid");
    r = await h.fetch("/write", { method: "POST", body: "x v=1\n" });
    assertEquals(r.status, 400);
    assertEquals(await r.json(), { error: "database is required" });
    r = await h.fetch("/query", {
      method: "POST",
      body: new URLSearchParams({ q: "SHOW DATABASES" }),
    });
    assertEquals(r.status, 400);
    await r.body?.cancel();
  }, { authToken: TOKEN, bodySizeBytesMax: 100_000 });
});

Deno.test("influx: a gzip bomb past the decoded limit is a 413", async () => {
  await withServer(async (h) => {
    const bomb = gzipSync(new Uint8Array(33 * 1024 * 1024).fill(0x61));
    const r = await h.fetch("/write?db=t", {
      method: "POST",
      headers: { "Content-Encoding": "gzip" },
      body: bomb,
    });
    assertEquals(r.status, 413);
    assert((await r.json()).error.includes("after gzip decoding"));
  }, { authToken: TOKEN });
});

Deno.test("influx: a series key deleted or overwritten between writes is not written through a stale cache", async () => {
  await withServer(async (h) => {
    const write = async (line: string) => {
      const r = await h.fetch("/write?db=t&precision=s", { method: "POST", body: line });
      return [r.status, r.status === 204 ? "" : (await r.json()).error] as const;
    };
    assertEquals(await write("m,a=1 v=1 1700000000"), [204, ""]);
    const key = encodeURIComponent('m_v{a="1"}');
    let r = await h.fetch(`/v1/keys/${key}`, { method: "DELETE" });
    assert(r.ok, `DELETE ${r.status}`);
    await r.body?.cancel();
    // Recreated: only the new sample is there.
    assertEquals(await write("m,a=1 v=2 1700000001"), [204, ""]);
    const got = await instant(h, "count_over_time(m_v[1h])", 1_700_000_001);
    assertEquals((got[0] as { value: unknown[] }).value[1], "1");
    // Overwritten by a string: refused, named, nothing else changes.
    r = await h.fetch(`/v1/keys/${key}`, { method: "PUT", body: "text" });
    assert(r.ok, `PUT ${r.status}`);
    await r.body?.cancel();
    const [status, error] = await write("m,a=1 v=3 1700000002\nother v=1 1700000002");
    assertEquals(status, 400);
    assert(error.includes('m_v{a="1"} holds another type'), error);
    assertEquals((await instant(h, "other_v", 1_700_000_002)).length, 1);
  }, { authToken: TOKEN });
});
