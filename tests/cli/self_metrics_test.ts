/**
 * `--self-metrics[=INTERVAL]` on the command line: the bare flag means 10 s, bad durations and
 * retention flags without the agent are usage errors naming the flag, `serve --help` and
 * `service print` carry it, and a serve child starts with it.
 */

import { assert, assertEquals } from "@std/assert";
import { parseFlags } from "../../src/cli/_args.ts";
import { parseDurationMs, selfMetricsSettings } from "../../src/cli/_self_metrics.ts";
import { SERVE_FLAGS } from "../../src/cli/serve.ts";
import { assertHas, runCli, startServe, tempDir } from "./_helpers.ts";

function settings(args: string[]) {
  return selfMetricsSettings("serve", parseFlags("serve", args, SERVE_FLAGS));
}

Deno.test("self-metrics flags: bare, with a value, retentions", () => {
  const day = 86_400_000;
  assertEquals(settings([]), undefined);
  const defaults = { intervalMs: 10_000, retentionMs: 7 * day, rollupRetentionMs: 90 * day };
  assertEquals(settings(["--self-metrics"]), defaults);
  assertEquals(settings(["--self-metrics", "--port", "0"]), defaults);
  assertEquals(settings(["--port", "0", "--self-metrics"]), defaults);
  assertEquals(settings(["--self-metrics", "30s"])?.intervalMs, 30_000);
  assertEquals(settings(["--self-metrics=1m"])?.intervalMs, 60_000);
  assertEquals(
    settings([
      "--self-metrics",
      "--self-metrics-retention",
      "2d",
      "--self-metrics-rollup-retention=1h",
    ]),
    { intervalMs: 10_000, retentionMs: 2 * day, rollupRetentionMs: 3_600_000 },
  );
  assertEquals(parseDurationMs("500ms"), 500);
  assertEquals(parseDurationMs("7d"), 7 * day);
  assertEquals(parseDurationMs("1.5s"), undefined);
  assertEquals(parseDurationMs("10"), undefined);
});

Deno.test("self-metrics flags: bad values are usage errors naming the flag", async () => {
  const cases: [string[], string][] = [
    [["--self-metrics=abc"], 'invalid --self-metrics "abc": use a duration from 1s to 1h'],
    [["--self-metrics=100ms"], "invalid --self-metrics"],
    [["--self-metrics-retention", "7d"], "--self-metrics-retention needs --self-metrics"],
    [["--self-metrics", "--self-metrics-retention", "10s"], "invalid --self-metrics-retention"],
  ];
  const [dir, cleanup] = await tempDir();
  try {
    for (const [args, message] of cases) {
      const r = await runCli(["serve", "--data-dir", dir, ...args], { killAfterMs: 30_000 });
      assertEquals(r.code, 2, r.stderr);
      assertHas(r.stderr, message);
    }
  } finally {
    await cleanup();
  }
});

Deno.test("self-metrics: serve --help names the flag, service print carries it", async () => {
  const help = await runCli(["serve", "--help"]);
  assertEquals(help.code, 0);
  assertHas(help.stdout, "--self-metrics[=INTERVAL]");
  assertHas(help.stdout, "--self-metrics-rollup-retention D");
  const unit = await runCli([
    "service",
    "print",
    "--self-metrics",
    "--exec",
    "/usr/local/bin/cityhall",
  ]);
  assertEquals(unit.code, 0, unit.stderr);
  assertHas(unit.stdout, "--self-metrics 10s");
});

/** GET a JSON body from a serve child's HTTP port. */
async function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = await res.json();
  assertEquals(res.status, 200, JSON.stringify(body));
  return body;
}

type SeriesList = { series: { key: string; labels: Record<string, string> }[] };

Deno.test("self-metrics: a serve child records its host as series with a rollup, kept across a restart", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const host = Deno.hostname();
    const filter = encodeURIComponent(`host=${host}`);
    let keys: string[] = [];
    const serve = await startServe(dir, ["--self-metrics=1s", "--self-metrics-retention=2d"]);
    try {
      const deadline = Date.now() + 60_000;
      while (!/self-metrics on/.test(serve.log())) {
        assert(Date.now() < deadline, serve.log());
        await new Promise((r) => setTimeout(r, 50));
      }
      assert(!/no time-series layer/.test(serve.log()), serve.log());
      // The first ticks create the series (raw and rollup) and write into them.
      const cpu = `host.${host}.agent_busy_ms`;
      let samples: [number, number | null][] = [];
      while (samples.length < 2) {
        assert(Date.now() < deadline, serve.log());
        await new Promise((r) => setTimeout(r, 200));
        const list = await getJson(serve.httpPort!, `/v1/series?filter=${filter}`) as SeriesList;
        keys = list.series.map((s) => s.key);
        if (!keys.includes(cpu)) continue;
        const got = await getJson(serve.httpPort!, `/v1/series/${encodeURIComponent(cpu)}/samples`);
        samples = got.samples as [number, number | null][];
      }
      assert(keys.includes(`${cpu}:1m`), keys.join(" "));
      const info = await getJson(serve.httpPort!, `/v1/series/${encodeURIComponent(cpu)}`);
      assertEquals(info.retentionMs, 2 * 86_400_000);
      assertEquals((info.labels as Record<string, string>).host, host);
      assertEquals((info.rules as { key: string; aggregator: string }[])[0], {
        key: `${cpu}:1m`,
        aggregator: "avg",
        bucketMs: 60_000,
        alignMs: 0,
      });
      const rollup = await getJson(serve.httpPort!, `/v1/series/${encodeURIComponent(cpu)}:1m`);
      assertEquals((rollup.labels as Record<string, string>).rollup, "1m");
      assertEquals(rollup.retentionMs, 90 * 86_400_000);
    } finally {
      assertEquals(await serve.stop(), 0);
    }
    // Without the flag the series are still there after a restart: they are ordinary data.
    const again = await startServe(dir);
    try {
      const list = await getJson(again.httpPort!, `/v1/series?filter=${filter}`) as SeriesList;
      const after = list.series.map((s) => s.key);
      for (const k of keys) assert(after.includes(k), `${k} lost across the restart`);
    } finally {
      assertEquals(await again.stop(), 0);
    }
  } finally {
    await cleanup();
  }
});

Deno.test("self-metrics: a serve child starts with the flag and says what the agent does", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const serve = await startServe(dir, ["--self-metrics=1s"]);
    try {
      const deadline = Date.now() + 60_000;
      while (!/self-metrics on/.test(serve.log())) {
        assert(Date.now() < deadline, serve.log());
        await new Promise((r) => setTimeout(r, 50));
      }
      assertHas(serve.log(), "self-metrics");
    } finally {
      assertEquals(await serve.stop(), 0);
    }
  } finally {
    await cleanup();
  }
});
