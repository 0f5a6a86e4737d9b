/**
 * What a scrape costs (ARCHITECTURE.md § "Metrics registry"): a database with a RESP and an
 * HTTP server on it, C command names each with a latency histogram, then the mean time to
 * render `/metrics` (every registry) and INFO stats (gather + one section) over 2,000 runs.
 *
 * `deno run -A --unstable-kv bench/metrics_render.ts [C=50]`
 */

import { Database } from "../src/mod.ts";
import { startServer } from "../src/server/mod.ts";
import { renderMetrics, startHttpServer } from "../src/http/mod.ts";
import { gather, renderInfo } from "../src/metrics/mod.ts";
import { registriesOf } from "../src/export/metrics.ts";

const commands = Number(Deno.args[0] ?? 50);
const runs = 2000;
const dir = await Deno.makeTempDir({ prefix: "cityhall-bench-metrics-" });
const db = await Database.open(dir);
const resp = await startServer(db, { hostname: "127.0.0.1", port: 0 });
const http = await startHttpServer(db, { hostname: "127.0.0.1", port: 0, logger: () => {} });
try {
  for (let i = 0; i < commands; i++) resp.metrics.record(`cmd${i}`, 0.0001 * i, false);
  let bytes = 0;
  let t = performance.now();
  for (let i = 0; i < runs; i++) bytes = renderMetrics(db).length;
  const metricsUs = ((performance.now() - t) / runs) * 1000;
  t = performance.now();
  for (let i = 0; i < runs; i++) renderInfo(gather(registriesOf(db)), "stats");
  const infoUs = ((performance.now() - t) / runs) * 1000;
  console.log(
    `${commands} commands: /metrics ${metricsUs.toFixed(0)} µs (${bytes} bytes), ` +
      `INFO stats ${infoUs.toFixed(0)} µs, mean of ${runs}`,
  );
} finally {
  await http.shutdown();
  await resp.close();
  await db.close();
  await Deno.remove(dir, { recursive: true });
}
