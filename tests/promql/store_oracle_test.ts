/**
 * The oracle over the real store: the same samples in a real Prometheus 2.42 and in a real
 * `cityhall serve` (written through its `POST /api/v1/write`, stored by the time-series store,
 * read back by the query API mounted on its HTTP port) answer every oracle query alike, point
 * by point; then again after the server was killed (-9) and reopened, so that what the WAL
 * replay and the checkpoints keep (NaN, ±Inf, staleness markers) is checked too.
 */

import { assertEquals } from "@std/assert";
import {
  askPrometheus,
  compare,
  generate,
  type GenSeries,
  openMetricsText,
  type QuerySpec,
  startOracle,
  toleranceOf,
  toWrite,
} from "./_oracle.ts";
import { ORACLE_QUERIES, specsOf } from "./_oracle_queries.ts";
import { encodeRemoteWrite } from "../../src/ingest/remote_write.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";

/** Writes `series` to a remote-write receiver in requests of at most `perRequest` series. */
export async function remoteWriteAll(
  url: string,
  series: GenSeries[],
  perRequest = 20,
): Promise<void> {
  for (let i = 0; i < series.length; i += perRequest) {
    const body = encodeRemoteWrite(series.slice(i, i + perRequest).map(toWrite));
    const r = await fetch(`${url}/api/v1/write`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
      },
      body: body as Uint8Array<ArrayBuffer>,
    });
    const text = await r.text();
    if (r.status !== 204) throw new Error(`remote write failed: ${r.status} ${text}`);
  }
}

async function compareAll(prometheus: string, cityhall: string): Promise<string[]> {
  const mismatches: string[] = [];
  let compared = 0;
  for (const query of ORACLE_QUERIES) {
    for (const spec of specsOf(query)) {
      const p = await askPrometheus(prometheus, spec);
      const c = await askPrometheus(cityhall, spec);
      compared++;
      const diff = compare(spec as QuerySpec, p, c, toleranceOf(query));
      if (diff) {
        const when = spec.kind === "instant"
          ? `@${spec.time}`
          : `[${spec.start},${spec.end},${spec.step}]`;
        mismatches.push(`${spec.kind} ${query} ${when}: ${diff}`);
      }
    }
  }
  console.log(`store oracle: ${compared} comparisons, ${mismatches.length} mismatches`);
  return mismatches;
}

Deno.test({
  name: "PromQL over the real store (written by remote write) equals a real Prometheus 2.42",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data = generate(11);
    const { text, loaded } = openMetricsText(data.openMetrics);
    const oracle = await startOracle(data, text);
    const [dir, cleanup] = await tempDir("cityhall-store-oracle-");
    let serve = await startServe(dir);
    try {
      const url = () => `http://127.0.0.1:${serve.httpPort}`;
      await remoteWriteAll(url(), [...loaded, ...data.remoteWrite]);
      assertEquals(await compareAll(oracle.url, url()), []);
      // Reopen after a crash: the WAL replay must give the same answers.
      await serve.stop("SIGKILL");
      serve = await startServe(dir);
      assertEquals(await compareAll(oracle.url, url()), []);
    } finally {
      await serve.stop();
      await oracle.stop();
      await cleanup();
    }
  },
});
