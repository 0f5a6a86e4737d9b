/**
 * The PromQL latency row beside its peer (section `promql`): the same 500 counters loaded into a
 * real Prometheus (Debian's, through `promtool tsdb create-blocks-from openmetrics`) and into
 * CityHall's store, the same `query_range` sent to both over HTTP, p50 of the wall time of the
 * whole request (parse, evaluate, JSON), and a check that both answered the same series with the
 * same number of points, so the two timings are of the same work.
 */

import { startHttpServer } from "../src/http/mod.ts";
import type { Database } from "../src/mod.ts";
import type { TimeSeriesStore } from "../src/timeseries/mod.ts";
import { silentLogger } from "../src/util/log.ts";
import { freePort, type Row, scaled } from "./harness.ts";
import { type CounterSeries, HOURS, percentile, T0 } from "./promql.ts";

const enc = new TextEncoder();
const QUERY = "sum by (site) (rate(x[5m]))";

/** Writes `series` as OpenMetrics and builds Prometheus blocks from it in `dir/tsdb`. */
async function buildBlocks(series: CounterSeries[], dir: string): Promise<string | undefined> {
  const file = `${dir}/x.om`;
  const out = await Deno.open(file, { write: true, create: true, truncate: true });
  try {
    let text = "";
    for (const c of series) {
      const { __name__: name, ...rest } = c.labels;
      const labels = Object.entries(rest).map(([k, v]) => `${k}="${v}"`).join(",");
      for (let i = 0; i < c.ts.length; i++) {
        text += `${name}{${labels}} ${c.vs[i]} ${(c.ts[i]! / 1000).toFixed(3)}\n`;
        if (text.length > 1 << 20) {
          await out.write(enc.encode(text));
          text = "";
        }
      }
    }
    await out.write(enc.encode(text + "# EOF\n"));
  } finally {
    out.close();
  }
  try {
    const run = await new Deno.Command("promtool", {
      args: ["tsdb", "create-blocks-from", "openmetrics", "--quiet", file, `${dir}/tsdb`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!run.success) return `promtool failed: ${new TextDecoder().decode(run.stderr).trim()}`;
  } catch {
    return "promtool not on PATH (Debian: apt-get install prometheus)";
  }
  return undefined;
}

/** Starts Prometheus over `dir/tsdb` (retention long enough for the 2023 data) on `port`. */
async function startPrometheus(dir: string, port: number): Promise<Deno.ChildProcess> {
  await Deno.writeTextFile(`${dir}/prometheus.yml`, "global:\n  scrape_interval: 1h\n");
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/tsdb`,
      "--storage.tsdb.retention.time=100y",
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return child;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error("Prometheus did not become ready within 60 s");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Answer {
  series: number;
  points: number;
}

/** p50 and p90 wall ms of `runs` GETs of the range query (after 3 warm-ups), and its answer. */
async function timeQuery(base: string, runs: number): Promise<{ wall: number[]; answer: Answer }> {
  const params = new URLSearchParams({
    query: QUERY,
    start: String(T0 / 1000),
    end: String((T0 + HOURS * 3_600_000) / 1000),
    step: "60",
  });
  const wall: number[] = [];
  let answer: Answer = { series: 0, points: 0 };
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const r = await fetch(`${base}/api/v1/query_range?${params}`);
    const body = await r.json();
    const t = performance.now() - t0;
    if (body.status !== "success") throw new Error(`${base}: ${JSON.stringify(body)}`);
    const result = body.data.result as { values: unknown[] }[];
    answer = { series: result.length, points: result.reduce((n, s) => n + s.values.length, 0) };
    if (i >= 3) wall.push(t);
  }
  wall.sort((a, b) => a - b);
  return { wall, answer };
}

/** Row: the range query over HTTP, CityHall's store beside a real Prometheus. */
export async function compareWithPrometheus(
  db: Database,
  store: TimeSeriesStore,
  series: CounterSeries[],
  print: (row: Row) => void,
): Promise<Row[]> {
  const name = `PromQL range ${QUERY}, 500 series x 6 h, step 60 s, over HTTP`;
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-prometheus-" });
  const server = await startHttpServer(db, {
    hostname: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    timeseries: store,
  });
  let prometheus: Deno.ChildProcess | undefined;
  try {
    const runs = scaled(20);
    const ours = await timeQuery(server.url, runs);
    const why = await buildBlocks(series, dir);
    let row: Row;
    if (why !== undefined) {
      row = {
        name,
        unit: "ms",
        cityhall: percentile(ours.wall, 0.5),
        lowerIsBetter: true,
        note: `p50 of ${runs}; no peer: ${why}`,
      };
    } else {
      const port = freePort();
      prometheus = await startPrometheus(dir, port);
      const theirs = await timeQuery(`http://127.0.0.1:${port}`, runs);
      const same = ours.answer.series === theirs.answer.series &&
        ours.answer.points === theirs.answer.points;
      row = {
        name,
        unit: "ms",
        cityhall: percentile(ours.wall, 0.5),
        denoKv: percentile(theirs.wall, 0.5),
        peer: "Prometheus 2.42",
        lowerIsBetter: true,
        note: `p50 of ${runs} requests each; p90 ${percentile(ours.wall, 0.9).toFixed(1)} vs ${
          percentile(theirs.wall, 0.9).toFixed(1)
        } ms; ${ours.answer.series} series, ${ours.answer.points} points ${
          same
            ? "in both answers"
            : `(Prometheus: ${theirs.answer.series} series, ${theirs.answer.points} points)`
        }`,
      };
    }
    print(row);
    return [row];
  } finally {
    if (prometheus !== undefined) {
      prometheus.kill("SIGKILL");
      await prometheus.status;
    }
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
