/**
 * A real Prometheus (Debian's 2.42) for oracle and interoperability tests, started through the
 * suite's child-process helper: its configuration is `<dir>/prometheus.yml` (written by the
 * test), its TSDB `<dir>/<tsdb>`, and it listens on 127.0.0.1:`port`.
 *
 * @module
 */

import { type Child, spawnChild } from "./child.ts";

/** Options of `spawnPrometheus`. */
export interface PrometheusOptions {
  /** The TSDB directory under `dir` (default "tsdb"). */
  tsdb?: string;
  /** Further flags (`--web.enable-remote-write-receiver`, retention…). */
  flags?: string[];
}

/** Starts `prometheus` on `dir`'s configuration; the test waits for `/-/ready` if it needs to. */
export function spawnPrometheus(dir: string, port: number, options: PrometheusOptions = {}): Child {
  return spawnChild(
    "prometheus",
    [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/${options.tsdb ?? "tsdb"}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.flags ?? []),
    ],
    { stdout: "null", stderr: "null" },
  );
}
