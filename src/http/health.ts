/**
 * `GET /healthz` and `HEAD /healthz`: 200 `ok` while the process can do its job, 503 with the
 * problems otherwise. ARCHITECTURE.md § "GET and HEAD /healthz".
 *
 * What counts as a problem is given to the server as a `HealthProvider` (wiring is passed in,
 * not looked up): by default the engine's own state (a failed fsync makes it refuse writes);
 * `cityhall serve|leader|replica` adds the replication role's problems (a refused replica
 * serves stale data).
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";

/** Problems that make `/healthz` answer 503, one sentence each; empty = healthy. */
export type HealthProvider = () => string[];

/** The engine's problems: it refuses writes after a fatal I/O error (e.g. a failed fsync). */
export function engineHealth(db: Database): HealthProvider {
  return () => {
    const fatal = db.stats().fatalError;
    return fatal === undefined ? [] : [`engine refuses writes after a fatal error: ${fatal}`];
  };
}

/** Every provider's problems, in order. */
export function combineHealth(...providers: (HealthProvider | undefined)[]): HealthProvider {
  return () => providers.flatMap((p) => p?.() ?? []);
}

/** The `/healthz` response (no body for HEAD, same status and headers). */
export function healthResponse(problems: string[], head: boolean): Response {
  const status = problems.length === 0 ? 200 : 503;
  const body = problems.length === 0 ? "ok" : `unhealthy: ${problems.join("; ")}`;
  return new Response(head ? null : body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}
