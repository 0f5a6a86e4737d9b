/**
 * The oracle's queries and when they are asked (shared by the oracle tests over the in-memory
 * source and over a real CityHall server's store).
 */

import { DATA_END, PART1_END, type QuerySpec, T0 } from "./_oracle.ts";

const MIN = 60_000;

/** The queries: every function, operator and modifier listed in issue 11. */
export const ORACLE_QUERIES: string[] = [
  // Selectors, matchers, offset, @.
  "http_requests_total",
  'http_requests_total{site="hq"}',
  'http_requests_total{site!="hq",code="500"}',
  'http_requests_total{site=~"n.*|s.*"}',
  'http_requests_total{site!~"(?i)HQ"}',
  '{__name__=~"temperature_.*"}',
  'temperature_celsius{room=""}',
  'temperature_celsius{room!=""}',
  "temperature_celsius offset 7m",
  "temperature_celsius offset -3m",
  "temperature_celsius @ 1700003600",
  "temperature_celsius @ start()",
  "temperature_celsius @ end()",
  "http_requests_total[5m]",
  "temperature_celsius[3m] offset 2m",
  "stale_gauge",
  "stale_gauge[10m]",
  "up",
  "odd_values",
  // Subqueries.
  "max_over_time(temperature_celsius[10m:1m])",
  "rate(http_requests_total[5m])[15m:2m]",
  "avg_over_time(rate(http_requests_total[2m])[10m:])",
  "min_over_time(temperature_celsius[20m:3m] offset 5m)",
  "sum_over_time(stale_gauge[30m:1m])",
  // Range functions.
  "rate(http_requests_total[5m])",
  "rate(http_requests_total[1m])",
  "irate(http_requests_total[5m])",
  "increase(http_requests_total[10m])",
  "delta(temperature_celsius[10m])",
  "idelta(temperature_celsius[5m])",
  "deriv(temperature_celsius[10m])",
  "predict_linear(temperature_celsius[15m], 3600)",
  "changes(temperature_celsius[10m])",
  "resets(http_requests_total[30m])",
  "avg_over_time(temperature_celsius[10m])",
  "min_over_time(temperature_celsius[10m])",
  "max_over_time(temperature_celsius[10m])",
  "sum_over_time(temperature_celsius[10m])",
  "count_over_time(temperature_celsius[10m])",
  "quantile_over_time(0.9, temperature_celsius[10m])",
  "quantile_over_time(0.25, http_requests_total[10m])",
  "stddev_over_time(temperature_celsius[10m])",
  "stdvar_over_time(temperature_celsius[10m])",
  "last_over_time(temperature_celsius[10m])",
  "present_over_time(temperature_celsius[10m])",
  "absent_over_time(stale_gauge[5m])",
  "absent_over_time(nonexistent[5m])",
  "rate(http_requests_total[5m] offset 10m)",
  "rate(http_requests_total[5m] @ 1700003000)",
  "count_over_time(stale_gauge[15m])",
  "max_over_time(odd_values[10m])",
  "holt_winters(temperature_celsius[10m], 0.5, 0.3)",
  // Instant functions.
  "abs(odd_values)",
  "ceil(temperature_celsius)",
  "floor(temperature_celsius)",
  "round(temperature_celsius)",
  "round(temperature_celsius, 0.5)",
  "clamp(temperature_celsius, 14, 20)",
  "clamp_min(temperature_celsius, 16)",
  "clamp_max(temperature_celsius, 16)",
  "sqrt(temperature_celsius)",
  "exp(temperature_celsius / 10)",
  "ln(temperature_celsius)",
  "log2(temperature_celsius)",
  "log10(temperature_celsius)",
  "log10(odd_values)",
  "sgn(odd_values)",
  "scalar(sum(temperature_celsius))",
  "scalar(temperature_celsius)",
  "vector(1)",
  "vector(time())",
  "time()",
  "timestamp(temperature_celsius)",
  "timestamp(stale_gauge)",
  "timestamp(abs(temperature_celsius))",
  "sort(temperature_celsius)",
  "sort_desc(temperature_celsius)",
  'label_replace(temperature_celsius, "where", "$1-$2", "site", "(.)(.*)")',
  'label_replace(temperature_celsius, "site", "", "site", "hq")',
  'label_join(temperature_celsius, "id", "/", "site", "room")',
  "absent(nonexistent)",
  'absent(nonexistent{job="x", site=~"a"})',
  "absent(temperature_celsius)",
  "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
  "histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[10m])))",
  "histogram_quantile(0.99, request_duration_seconds_bucket)",
  "day_of_week()",
  "hour(timestamp(temperature_celsius))",
  "minute()",
  "days_in_month()",
  "year()",
  "month()",
  // Aggregations.
  "sum(http_requests_total)",
  "sum by (site) (rate(http_requests_total[5m]))",
  "sum without (instance, code) (rate(http_requests_total[5m]))",
  "avg by (site) (temperature_celsius)",
  "min by (room) (temperature_celsius)",
  "max(temperature_celsius) by (room)",
  "count by (site) (http_requests_total)",
  "group by (site) (http_requests_total)",
  "stddev(temperature_celsius)",
  "stdvar by (room) (temperature_celsius)",
  "topk(3, temperature_celsius)",
  "bottomk(2, temperature_celsius) by (room)",
  "topk(1, rate(http_requests_total[5m])) by (site)",
  "quantile(0.5, temperature_celsius)",
  "quantile by (room) (0.9, temperature_celsius)",
  'count_values("value", round(temperature_celsius))',
  'count_values by (site) ("c", code_gauge_missing or round(temperature_celsius))',
  "sum(odd_values)",
  "avg(odd_values)",
  "max(odd_values)",
  "sum by (__name__) (http_requests_total)",
  // Arithmetic, comparisons, bool.
  "temperature_celsius * 2 + 1",
  "temperature_celsius / 0",
  "-temperature_celsius",
  "2 ^ 3 ^ 2",
  "temperature_celsius ^ 0.5",
  "temperature_celsius % 7",
  "temperature_celsius atan2 10",
  "1 - temperature_celsius",
  "temperature_celsius > 16",
  "16 < temperature_celsius",
  "temperature_celsius > bool 16",
  "temperature_celsius == bool temperature_celsius",
  "temperature_celsius != 15",
  "temperature_celsius >= 16 <= 20",
  "1 > bool 2",
  "(1 + 2) * 3 - 4 / 2 % 3",
  "odd_values > 0",
  // Set operators and vector matching.
  'temperature_celsius and temperature_celsius{room="lab"}',
  "temperature_celsius or up",
  'temperature_celsius unless temperature_celsius{site="hq"}',
  "temperature_celsius and on(site) stale_gauge",
  "temperature_celsius unless ignoring(room) stale_gauge",
  "rate(http_requests_total[5m]) / on(site, instance, code) group_left rate(http_requests_total[10m])",
  "http_requests_total / ignoring(code) group_left sum without (code) (http_requests_total)",
  "sum by (site) (http_requests_total) / on(site) group_right http_requests_total",
  "temperature_celsius - on(site) group_left avg by (site) (temperature_celsius)",
  "temperature_celsius * on(site) group_left(instance) max by (site, instance) (stale_gauge)",
  "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
  "temperature_celsius + ignoring(room) temperature_celsius",
  // Errors must match in type.
  "sum(",
  "rate(temperature_celsius)",
  "temperature_celsius + on(site) temperature_celsius",
  "http_requests_total / ignoring(code) sum without (code) (http_requests_total)",
  'label_replace(temperature_celsius, "1bad", "x", "site", ".*")',
];

const INSTANT_TIMES = [
  T0 + 61 * MIN + 12_345, // everything present
  T0 + 95 * MIN, // inside the 12-minute counter gap
  T0 + 44 * MIN + 500, // inside the gauge gap
  PART1_END + 3 * MIN, // lookback over the end of the OpenMetrics part
  PART1_END + 22 * MIN, // after a staleness marker
  DATA_END + 4 * MIN, // after everything, within lookback
];

const RANGES: [number, number, number][] = [
  [T0, DATA_END + 10 * MIN, 60_000],
  [T0 + 80 * MIN, T0 + 110 * MIN, 17_000],
  [PART1_END - 10 * MIN, DATA_END, 45_000],
];

/** Instant and range specs of a query (range only for vector/scalar results). */
export function specsOf(query: string): QuerySpec[] {
  const out: QuerySpec[] = INSTANT_TIMES.map((time) => ({ kind: "instant", query, time }));
  for (const [start, end, step] of RANGES) out.push({ kind: "range", query, start, end, step });
  return out;
}
