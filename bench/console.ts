/**
 * Benchmarks of the web console and the host agent (ARCHITECTURE.md § "Web console",
 * § "Host agent"), against `cityhall serve` children:
 *
 * - console: first contentful paint of `/` in headless chromium on loopback (warm browser, fresh
 *   navigations), and the time from asking for a 1-day 1 Hz series to uPlot having drawn it
 *   (the server aggregates to the chart's width), read from the chart's `data-render-ms`;
 * - agent: the CPU the agent adds to the server process, measured from /proc/<pid>/stat against
 *   an identical server without it, scaled to the default 10 s interval.
 */

import { Browser } from "../tests/_helpers/cdp.ts";
import { type ServeProcess, startServe } from "../tests/cli/_helpers.ts";
import type { Row } from "./harness.ts";

function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function withServe<T>(
  extra: string[],
  fn: (serve: ServeProcess, base: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-console-" });
  const serve = await startServe(dir, extra);
  try {
    return await fn(serve, `http://127.0.0.1:${serve.httpPort}`);
  } finally {
    await serve.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Writes a day of 1 Hz samples ending now to `key`; false when there are no series routes. */
async function writeDay(base: string, key: string): Promise<boolean> {
  const end = Math.floor(Date.now() / 1000) * 1000;
  const day = 86_400;
  const batch = 10_000;
  for (let i = 0; i < day; i += batch) {
    const samples: [number, number][] = [];
    for (let j = i; j < Math.min(day, i + batch); j++) {
      const t = end - (day - j) * 1000;
      samples.push([t, Math.round((20 + 5 * Math.sin(j / 3600) + Math.random()) * 100) / 100]);
    }
    const res = await fetch(`${base}/v1/series/${key}/samples`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ samples }),
    });
    const text = await res.text();
    if (res.status === 404) return false;
    if (!res.ok) throw new Error(`POST samples: ${res.status} ${text}`);
  }
  return true;
}

/** The console rows. */
export async function consoleBench(log: (row: Row) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    log(row);
  };
  const browser = await Browser.launch();
  try {
    await withServe([], async (_serve, base) => {
      const page = await browser.newPage();
      await page.goto(`${base}/`); // warm up the browser's caches of the profile
      const paints: number[] = [];
      for (let i = 0; i < 10; i++) {
        await page.goto(`${base}/?n=${i}`);
        paints.push(
          await page.waitFor<number>(
            `performance.getEntriesByName("first-contentful-paint")[0]?.startTime`,
            "first contentful paint",
          ),
        );
      }
      add({
        name: "console: first contentful paint of / (loopback, p50)",
        unit: "ms",
        cityhall: percentile(paints, 0.5),
        lowerIsBetter: true,
        note: `10 navigations, max ${Math.max(...paints).toFixed(0)} ms; target ≤ 300 ms`,
      });

      if (!(await writeDay(base, "bench.day"))) {
        add({
          name: "console: 1-day 1 Hz series drawn",
          unit: "ms",
          cityhall: NaN,
          note: "n/a: this build has no time-series routes",
        });
        return;
      }
      const renders: number[] = [];
      let points = 0;
      let bucket = 0;
      for (let i = 0; i < 7; i++) {
        await page.eval(`location.hash = "#/health"`);
        await page.waitFor(`document.getElementById("health-tiles") !== null`);
        await page.eval(`location.hash = "#/chart?k=bench.day&range=24h&n=${i}"`);
        const ms = await page.waitFor<string>(
          `document.getElementById("chart")?.dataset.renderMs`,
          "the chart's render time",
        );
        renders.push(Number(ms));
        points = Number(await page.eval(`document.getElementById("chart").dataset.points`));
        bucket = Number(await page.eval(`document.getElementById("chart").dataset.bucketMs`));
      }
      renders.shift(); // the first navigation loads uPlot and the chart modules
      add({
        name: "console: 1-day 1 Hz series (86,400 samples) fetched and drawn (p50)",
        unit: "ms",
        cityhall: percentile(renders, 0.5),
        lowerIsBetter: true,
        note: `server-side avg into ${bucket / 1000} s buckets = ${points} points for a ` +
          `1280-px window; max ${Math.max(...renders).toFixed(0)} ms; target ≤ 200 ms`,
      });
    });
  } finally {
    await browser.close();
  }
  return rows;
}

/** User + system CPU seconds of a process (Linux). */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the name: state is index 0; utime and stime are 11 and 12 (clock ticks).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The agent rows (Linux only: they read /proc). */
export async function agentBench(log: (row: Row) => void): Promise<Row[]> {
  if (Deno.build.os !== "linux") return [];
  const rows: Row[] = [];
  const seconds = Number(Deno.env.get("BENCH_AGENT_SECONDS") ?? "30");
  const intervalS = 1;
  // The server's own pid: deno run is the child itself.
  const measure = (extra: string[]) =>
    withServe(extra, async (serve) => {
      const pid = serve.child.pid;
      await new Promise((r) => setTimeout(r, 2000));
      const c0 = cpuSeconds(pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const cpu = cpuSeconds(pid) - c0;
      const wall = (performance.now() - t0) / 1000;
      return { cpu, wall, on: /msg="self-metrics on"/.test(serve.log()) };
    });
  const base = await measure([]);
  const withAgent = await measure([`--self-metrics=${intervalS}s`]);
  if (!withAgent.on) {
    const row: Row = {
      name: "agent: CPU at the default 10 s interval",
      unit: "% of a core",
      cityhall: NaN,
      note: "n/a: the agent did not start (no time-series layer in this build)",
    };
    rows.push(row);
    log(row);
    return rows;
  }
  const perTickS = Math.max(0, withAgent.cpu - base.cpu) / (withAgent.wall / intervalS);
  const row: Row = {
    name: "agent: CPU at the default 10 s interval",
    unit: "% of a core",
    cityhall: (100 * perTickS) / 10,
    lowerIsBetter: true,
    note: `${(perTickS * 1000).toFixed(2)} ms CPU per tick (process CPU with --self-metrics=1s ` +
      `minus without, ${seconds} s each, ~60 series + rollups written); target ≤ 1%`,
  };
  rows.push(row);
  log(row);
  return rows;
}
