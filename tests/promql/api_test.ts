/**
 * The Prometheus HTTP API handlers: exact JSON shapes, parameter parsing (RFC 3339 and Unix
 * times, durations), error types and status codes, the 11,000-point limit, GET and POST form
 * bodies through the route table, and Prometheus's number formatting.
 */

import { assert, assertEquals } from "@std/assert";
import {
  formatFloatPlain,
  formatTimestamp,
  formatValue,
  FormParams,
  handlePromApi,
  Labels,
  matchPromRoute,
  MemorySource,
  type PromApiContext,
  PROMETHEUS_COMPAT_VERSION,
  writeStaleNaN,
} from "../../src/promql/mod.ts";
import {
  labelsHandler,
  labelValuesHandler,
  metadataHandler,
  queryHandler,
  queryRangeHandler,
  seriesHandler,
} from "../../src/promql/api.ts";
import { parseDuration, parseTime } from "../../src/promql/_api_params.ts";
import { PROM_API_FORM_BODY_BYTES_MAX } from "../../src/limits.ts";

const T = 1_700_000_000_000;

function ctx(): PromApiContext {
  const src = new MemorySource();
  const ts = Float64Array.from({ length: 21 }, (_, i) => T + i * 15_000);
  src.add(
    Labels.fromObject({ __name__: "up", job: "node", instance: "a" }),
    ts,
    ts.map((_, i) => i % 2),
  );
  src.add(Labels.fromObject({ __name__: "up", job: "node", instance: "b" }), ts, ts.map(() => 1));
  const stale = ts.map((_, i) => i);
  writeStaleNaN(stale, 20);
  src.add(Labels.fromObject({ __name__: "temp", room: "lab" }), ts, stale);
  return { source: src, now: () => T + 300_000 };
}

function params(p: Record<string, string | string[]>): FormParams {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(p)) for (const x of [v].flat()) u.append(k, x);
  return new FormParams(u);
}

Deno.test("query answers Prometheus's exact JSON for vectors, scalars, strings and matrices", () => {
  const c = ctx();
  assertEquals(queryHandler(params({ query: 'up{instance="b"}', time: "1700000300" }), c), {
    status: 200,
    json:
      '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"b","job":"node"},"value":[1700000300,"1"]}]}}',
  });
  assertEquals(
    queryHandler(params({ query: "1.5 * 2", time: "1700000300.25" }), c).json,
    '{"status":"success","data":{"resultType":"scalar","result":[1700000300.250,"3"]}}',
  );
  assertEquals(
    queryHandler(params({ query: '"hi"', time: "2023-11-14T22:18:20.001Z" }), c).json,
    '{"status":"success","data":{"resultType":"string","result":[1700000300.001,"hi"]}}',
  );
  assertEquals(
    queryHandler(params({ query: 'up{instance="a"}[30s]', time: "1700000030" }), c).json,
    '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a","job":"node"},"values":[[1700000000,"0"],[1700000015,"1"],[1700000030,"0"]]}]}}',
  );
  // Without time: now.
  const now = JSON.parse(queryHandler(params({ query: "time()" }), c).json);
  assertEquals(now.data.result, [1700000300, "1700000300"]);
});

Deno.test("query_range answers a sorted matrix and respects staleness", () => {
  const c = ctx();
  const r = JSON.parse(
    queryRangeHandler(
      params({ query: "temp", start: "1700000240", end: "1700000360", step: "1m" }),
      c,
    ).json,
  );
  // The sample at T+300 s is a staleness marker: no value from then on.
  assertEquals(r.data.result, [{
    metric: { __name__: "temp", room: "lab" },
    values: [[1700000240, "16"]],
  }]);
  const s = JSON.parse(
    queryRangeHandler(
      params({
        query: "sum by (instance) (up)",
        start: "1700000000",
        end: "1700000030",
        step: "15",
      }),
      c,
    )
      .json,
  );
  assertEquals(s.data.result.map((x: { metric: unknown }) => x.metric), [{ instance: "a" }, {
    instance: "b",
  }]);
});

Deno.test("errors carry Prometheus's type, status and wording", () => {
  const c = ctx();
  const cases: [Record<string, string>, "query" | "range", number, string, string][] = [
    [
      { query: "sum(" },
      "query",
      400,
      "bad_data",
      'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
    ],
    [
      { query: "up", time: "yesterday" },
      "query",
      400,
      "bad_data",
      `invalid parameter "time": Invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`,
    ],
    [
      { query: "up", timeout: "soon" },
      "query",
      400,
      "bad_data",
      'invalid parameter "timeout": cannot parse "soon" to a valid duration',
    ],
    [
      { query: "up + ignoring(instance) up" },
      "query",
      422,
      "execution",
      'found duplicate series for the match group {job="node"} on the right hand-side of the operation: [{__name__="up", instance="b", job="node"}, {__name__="up", instance="a", job="node"}];many-to-many matching not allowed: matching labels must be unique on one side',
    ],
    [{ query: 'up + on(job) group_left temp{room="lab"}' }, "query", 200, "", ""],
    [
      { query: "sum(", start: "1", end: "2", step: "1" },
      "range",
      400,
      "bad_data",
      "1:5: parse error: unclosed left parenthesis",
    ],
    [
      { query: "up", start: "x", end: "2", step: "1" },
      "range",
      400,
      "bad_data",
      'invalid parameter "start": cannot parse "x" to a valid timestamp',
    ],
    [
      { query: "up", start: "2", end: "1", step: "1" },
      "range",
      400,
      "bad_data",
      'invalid parameter "end": end timestamp must not be before start time',
    ],
    [
      { query: "up", start: "1", end: "2", step: "0" },
      "range",
      400,
      "bad_data",
      'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
    ],
    [
      { query: "up", start: "0", end: "11001", step: "1" },
      "range",
      400,
      "bad_data",
      "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    ],
    [
      { query: "up[5m]", start: "1", end: "2", step: "1" },
      "range",
      400,
      "bad_data",
      'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    ],
  ];
  for (const [p, kind, status, type, message] of cases) {
    const r = kind === "query" ? queryHandler(params(p), c) : queryRangeHandler(params(p), c);
    assertEquals(r.status, status, JSON.stringify(p));
    if (status === 200) continue;
    assertEquals(
      JSON.parse(r.json),
      { status: "error", errorType: type, error: message },
      JSON.stringify(p),
    );
  }
  // 11,000 points is still fine.
  assertEquals(
    queryRangeHandler(params({ query: "1", start: "0", end: "11000", step: "1" }), c).status,
    200,
  );
});

Deno.test("series, labels, label values and metadata answer like Prometheus", () => {
  const c = ctx();
  assertEquals(
    JSON.parse(seriesHandler(params({ "match[]": ["up", 'temp{room="lab"}'] }), c).json).data,
    [
      { __name__: "temp", room: "lab" },
      { __name__: "up", instance: "a", job: "node" },
      { __name__: "up", instance: "b", job: "node" },
    ],
  );
  assertEquals(
    JSON.parse(seriesHandler(params({}), c).json).error,
    "no match[] parameter provided",
  );
  assertEquals(
    JSON.parse(seriesHandler(params({ "match[]": '{job=~".*"}' }), c).json).error,
    'invalid parameter "match[]": match[] must contain at least one non-empty matcher',
  );
  assertEquals(JSON.parse(labelsHandler(params({}), c).json).data, [
    "__name__",
    "instance",
    "job",
    "room",
  ]);
  assertEquals(JSON.parse(labelsHandler(params({ "match[]": "temp" }), c).json).data, [
    "__name__",
    "room",
  ]);
  assertEquals(JSON.parse(labelValuesHandler("__name__", params({}), c).json).data, ["temp", "up"]);
  assertEquals(
    JSON.parse(labelValuesHandler("instance", params({ "match[]": "up" }), c).json).data,
    ["a", "b"],
  );
  assertEquals(labelValuesHandler("1bad", params({}), c).status, 400);
  // Time bounds select by sample time.
  assertEquals(
    JSON.parse(labelValuesHandler("__name__", params({ start: "1800000000" }), c).json).data,
    [],
  );
  assertEquals(metadataHandler(params({}), c).json, '{"status":"success","data":{}}');
  assertEquals(
    JSON.parse(metadataHandler(params({ limit: "x" }), c).json).error,
    "limit must be a number",
  );
});

Deno.test("handlePromApi() routes GET and POST form bodies, and refuses oversized bodies", async () => {
  const c = ctx();
  const base = "http://localhost/api/v1";
  const get = await handlePromApi(new Request(`${base}/query?query=up&time=1700000300`), c);
  assertEquals(get?.status, 200);
  const post = await handlePromApi(
    new Request(`${base}/query_range?query=ignored`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "query=count(up)&start=1700000000&end=1700000060&step=30s",
    }),
    c,
  );
  // The body's value comes first, as Go's FormValue.
  assertEquals(JSON.parse(post!.json).data.result[0].values, [
    [1700000000, "2"],
    [1700000030, "2"],
    [1700000060, "2"],
  ]);
  const values = await handlePromApi(new Request(`${base}/label/job/values`), c);
  assertEquals(JSON.parse(values!.json).data, ["node"]);
  const build = await handlePromApi(new Request(`${base}/status/buildinfo`), c);
  assertEquals(JSON.parse(build!.json).data.version, PROMETHEUS_COMPAT_VERSION);
  assertEquals(await handlePromApi(new Request(`${base}/nope`), c), undefined);
  assertEquals(
    (await handlePromApi(new Request(`${base}/metadata`, { method: "DELETE" }), c))?.status,
    405,
  );
  const big = await handlePromApi(
    new Request(`${base}/query`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "query=" + "1+".repeat(PROM_API_FORM_BODY_BYTES_MAX / 2) + "1",
    }),
    c,
  );
  assertEquals(big?.status, 400);
  assert(matchPromRoute("/api/v1/label/a%20b/values")?.pathParams.name === "a b");
});

Deno.test("times and durations parse like Prometheus's parseTime and parseDuration", () => {
  assertEquals(parseTime("1700000000"), 1_700_000_000_000);
  assertEquals(parseTime("1700000000.1234"), 1_700_000_000_123);
  assertEquals(parseTime("1700000000.9996"), 1_700_000_001_000);
  assertEquals(parseTime("2023-11-14T22:13:20Z"), 1_700_000_000_000);
  assertEquals(parseTime("2023-11-14T23:13:20.5+01:00"), 1_700_000_000_500);
  assertEquals(parseTime("2023-11-14T22:13:20.999999999Z"), 1_700_000_000_999);
  assertEquals(parseDuration("30s"), 30_000);
  assertEquals(parseDuration("1.5"), 1500);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  for (const bad of ["2023-02-30T00:00:00Z", "2023-11-14 22:13:20Z", "tomorrow"]) {
    let threw = false;
    try {
      parseTime(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

Deno.test("formatValue() writes sample values as Go's strconv does", () => {
  const cases: [number, string][] = [
    [1.5, "1.5"],
    [0, "0"],
    [-0, "-0"],
    [NaN, "NaN"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [1e-7, "1e-07"],
    [1.5e-7, "1.5e-07"],
    [0.000001, "0.000001"],
    [1e21, "1e+21"],
    [1.2345e22, "1.2345e+22"],
    [1e20, "100000000000000000000"],
    [123456789.125, "123456789.125"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
  ];
  for (const [v, want] of cases) assertEquals(formatValue(v), want, String(v));
  assertEquals(formatFloatPlain(1e21), "1000000000000000000000");
  assertEquals(formatFloatPlain(1.5e-7), "0.00000015");
  assertEquals(formatFloatPlain(-2.5e22), "-25000000000000000000000");
  assertEquals(formatTimestamp(1_700_000_000_000), "1700000000");
  assertEquals(formatTimestamp(1_700_000_000_050), "1700000000.050");
  assertEquals(formatTimestamp(-1500), "-1.500");
});
