/**
 * The console's browser code that does not touch the DOM, run under Deno: the bucket that gives
 * one point per pixel, joining series on one time axis, CSV that stays data in a spreadsheet,
 * Prometheus text and histogram quantiles, key bytes in URLs and on screen.
 */

import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  alignRange,
  autoBucketMs,
  csvCell,
  filterExprs,
  joinSeries,
  pointCount,
  safeFileName,
  toCsv,
} from "../../src/console/client/chart_data.js";
import {
  histogram,
  histogramDelta,
  parseMetrics,
  quantile,
  sum,
} from "../../src/console/client/metrics_text.js";
import {
  displayKey,
  fromBase64,
  fromHex,
  hasDotSegment,
  percentDecode,
  percentEncode,
  toBase64,
} from "../../src/console/client/bytes.js";
import { catchUp } from "../../src/console/client/replication_page.js";
import { formatDuration, parseDuration } from "../../src/console/client/format.js";

Deno.test("chart: a day at 1 Hz on 1,000 pixels asks for at most 1,000 buckets", () => {
  const day = 86_400_000;
  for (const width of [300, 800, 1000, 1920, 3840]) {
    const bucket = autoBucketMs(0, day, width);
    assert(day / bucket <= width, `${width}px: bucket ${bucket}`);
    assert(day / bucket > width / 3, `${width}px: bucket ${bucket} is too coarse`);
  }
  assertEquals(autoBucketMs(0, 1000, 1000), 1);
  assertEquals(autoBucketMs(0, 60_000, 1000), 100);
  assertEquals(alignRange(1_234, 5_678, 1_000), { from: 1_000, to: 5_999 });
});

Deno.test("chart: series joined on the union of their timestamps, gaps as null", () => {
  const data = joinSeries([[[1, 10], [3, 30]], [[2, 20], [3, 31]]]);
  assertEquals(data, [[1, 2, 3], [10, null, 30], [null, 20, 31]]);
  assertEquals(pointCount(data), 4);
  assertEquals(joinSeries([[[5, 1]]]), [[5], [1]]);
});

Deno.test("chart: CSV quotes what needs it and keeps formulas as text", () => {
  assertEquals(csvCell("plain"), "plain");
  assertEquals(csvCell('a,"b"'), '"a,""b"""');
  assertEquals(csvCell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
  assertEquals(csvCell("-1+2"), "'-1+2");
  assertEquals(csvCell(-1.5), "-1.5");
  assertEquals(csvCell(null), "");
  const csv = toCsv(["a", "=b"], [[0, 1000], [1, null], [2, 3]]);
  assertEquals(
    csv,
    "timestamp_ms,time_utc,a,'=b\r\n0,1970-01-01T00:00:00.000Z,1,2\r\n" +
      "1000,1970-01-01T00:00:01.000Z,,3\r\n",
  );
  assertEquals(safeFileName("../etc/pass wd"), "etc_pass_wd");
  assertEquals(filterExprs("  host=pi   metric=cpu "), ["host=pi", "metric=cpu"]);
});

Deno.test("metrics: Prometheus text, summed histograms and quantiles", () => {
  const text = [
    "# HELP x y",
    'cityhall_commands_total{command="get"} 5',
    'cityhall_commands_total{command="set"} 7',
    'h_bucket{command="get",le="0.001"} 1',
    'h_bucket{command="get",le="0.01"} 3',
    'h_bucket{command="get",le="+Inf"} 4',
    'h_bucket{command="set",le="0.001"} 1',
    'h_bucket{command="set",le="0.01"} 1',
    'h_bucket{command="set",le="+Inf"} 1',
    'h_count{command="get"} 4',
    'h_count{command="set"} 1',
    'h_sum{command="get"} 0.5',
    'weird{a="x\\"y",b="p\\\\q"} 1',
  ].join("\n");
  const samples = parseMetrics(text);
  assertEquals(sum(samples, "cityhall_commands_total"), 12);
  assertEquals(samples.at(-1)!.labels, { a: 'x"y', b: "p\\q" });
  const hist = histogram(samples, "h");
  assertEquals(hist.bounds, [0.001, 0.01, Infinity]);
  assertEquals(hist.cumulative, [2, 4, 5]);
  assertEquals(hist.count, 5);
  assertAlmostEquals(quantile(hist, 0.5), 0.001 + 0.009 * (0.5 / 2));
  assertEquals(quantile(hist, 0.99), 0.01);
  const delta = histogramDelta(hist, { ...hist, cumulative: [2, 3, 3], count: 3, sum: 0 });
  assertEquals(delta.cumulative, [0, 1, 2]);
  assert(Number.isNaN(quantile({ bounds: [1], cumulative: [0], count: 0, sum: 0 }, 0.5)));
});

Deno.test("bytes: keys travel as percent-encoded bytes and show escaped", () => {
  const key = new Uint8Array([0x61, 0x2f, 0x20, 0xff, 0x00, 0xc3, 0xa9]);
  const enc = percentEncode(key);
  assertEquals(enc, "a%2F%20%FF%00%C3%A9");
  assertEquals(percentDecode(enc), key);
  assertEquals(percentDecode("é%41"), new Uint8Array([0xc3, 0xa9, 0x41]));
  assertEquals(displayKey(new TextEncoder().encode("sensor.é")), "sensor.é");
  assertEquals(displayKey(new Uint8Array([0x61, 0xff, 0x0a, 0x5c])), "a\\xff\\x0a\\x5c");
  assertEquals(fromBase64(toBase64(key)), key);
  assertEquals(fromHex("0a ff"), new Uint8Array([10, 255]));
  assert(hasDotSegment(new TextEncoder().encode("a/../b")));
  assert(hasDotSegment(new TextEncoder().encode(".")));
  assert(!hasDotSegment(new TextEncoder().encode("a.b/c..d")));
});

Deno.test("replication: catch-up rate and ETA from two polls", () => {
  assertEquals(catchUp(100, 300, 2, 400), { rate: 100, etaS: 4 });
  assertEquals(catchUp(100, 100, 2, 400), { rate: 0, etaS: Infinity });
  assertEquals(catchUp(100, 300, 2, 0), { rate: 100, etaS: 0 });
  assert(Number.isNaN(catchUp(undefined, 300, 2, 5).etaS));
});

Deno.test("format: durations", () => {
  assertEquals(parseDuration("15m"), 900_000);
  assertEquals(parseDuration("24h"), 86_400_000);
  assert(Number.isNaN(parseDuration("1 hour")));
  assertEquals(formatDuration(60_000), "1m");
  assertEquals(formatDuration(1500), "1500ms");
});
