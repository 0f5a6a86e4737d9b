/**
 * PromQL against a real Prometheus 2.42: every function and operator CityHall implements, as
 * instant queries at several times and as range queries, compared point by point
 * (tests/promql/_oracle.ts explains the data and the comparison).
 */

import { assertEquals } from "@std/assert";
import {
  askCityHall,
  askPrometheus,
  compare,
  generate,
  memorySource,
  openMetricsText,
  startOracle,
  toleranceOf,
} from "./_oracle.ts";
import { ORACLE_QUERIES, specsOf } from "./_oracle_queries.ts";

Deno.test({
  name: "PromQL answers equal a real Prometheus 2.42 point by point",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data = generate(11);
    const { text, loaded } = openMetricsText(data.openMetrics);
    const source = memorySource([loaded, data.remoteWrite]);
    const oracle = await startOracle(data, text);
    try {
      const mismatches: string[] = [];
      let compared = 0;
      let empty = 0;
      let errors = 0;
      let inexact = 0;
      for (const query of ORACLE_QUERIES) {
        for (const spec of specsOf(query)) {
          const p = await askPrometheus(oracle.url, spec);
          const c = askCityHall(source, spec);
          compared++;
          const pj = p[1] as { status: string; data?: { result: unknown } };
          if (pj.status === "error") errors++;
          else if (Array.isArray(pj.data?.result) && pj.data.result.length === 0) empty++;
          const diff = compare(spec, p, c, toleranceOf(query));
          if (!diff && toleranceOf(query) > 0 && compare(spec, p, c, 0)) inexact++;
          if (diff) {
            const when = spec.kind === "instant"
              ? `@${spec.time}`
              : `[${spec.start},${spec.end},${spec.step}]`;
            mismatches.push(`${spec.kind} ${query} ${when}: ${diff}`);
          }
        }
      }
      console.log(
        `oracle: ${ORACLE_QUERIES.length} queries, ${compared} comparisons (${empty} empty results, ${errors} errors), ${mismatches.length} mismatches, ${inexact} equal only within the float tolerance`,
      );
      assertEquals(mismatches, []);
    } finally {
      await oracle.stop();
    }
  },
});
