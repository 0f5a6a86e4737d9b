/**
 * INFO sections of the ingest endpoints and the remote-write exporters (ARCHITECTURE.md
 * § "Remote-write export"): `INFO ingest`, `INFO remote_write` (also in `INFO all`).
 *
 * @module
 */

import { exporterStats } from "./registry.ts";

/** Section names of this part (`ingest` renders from `exportRegistry`, in `metrics.ts`). */
export const EXTRA_SECTIONS: readonly string[] = ["ingest", "remote_write"];

/** `remote_write`'s title and lines, or undefined for a name served elsewhere. */
export function extraInfoSection(
  section: string,
): { title: string; lines: [string, string | number][] } | undefined {
  if (section === "remote_write") {
    const all = exporterStats();
    const lines: [string, string | number][] = [["remote_write_targets", all.length]];
    all.forEach((s, i) => {
      const p = `target${i}_`;
      lines.push(
        [`${p}url`, s.url],
        [`${p}samples_sent`, s.samplesSent],
        [`${p}bytes_sent`, s.bytesSent],
        [`${p}requests_sent`, s.requestsSent],
        [`${p}retries`, s.retries],
        [`${p}requests_refused`, s.requestsRefused],
        [`${p}samples_refused`, s.samplesRefused],
        [`${p}lag_ms`, s.lagMs],
        [`${p}pending_series`, s.pendingSeries],
        [`${p}last_success_ms`, s.lastSuccessMs],
        [`${p}retrying`, s.retrying ? 1 : 0],
        [`${p}last_error`, s.lastError.replace(/[\r\n]+/g, " ")],
      );
    });
    return { title: "Remote_write", lines };
  }
  return undefined;
}
