/**
 * The web console served by the HTTP API at `/` (ARCHITECTURE.md § "Web console"): its files
 * with the security headers every console response carries, and the JSON the console reads
 * that no other route gives (`/v1/replication`). `src/http/_routes.ts` registers the routes;
 * nothing here knows about the HTTP server's internals.
 *
 * Invariants:
 * - The files are open (the login page must load before there is a token); they hold no data.
 *   Every data request the page makes carries the token in an `Authorization` header, never in
 *   a URL or a cookie.
 * - Every console response has a strict Content-Security-Policy: scripts and styles only from
 *   this origin, no inline script or style, no framing, Trusted Types required (so assigning a
 *   string to `innerHTML` throws in the browser).
 *
 * @module
 */

import { CONSOLE_ASSETS, type ConsoleAsset, UPLOT_VERSION } from "./assets.ts";

export { CONSOLE_ASSETS, type ConsoleAsset, UPLOT_VERSION };
export {
  type FleetInfo,
  type ReplicationStatus,
  replicationStatus,
  uplinksOf,
  type UplinkStatus,
} from "./replication_status.ts";

/** The console's Content-Security-Policy. */
export const CONSOLE_CSP: string = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

/** Headers of every console response (the CSP and its companions). */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * The response for `asset`: 200 with the file, or 304 when `If-None-Match` names its ETag.
 * `Cache-Control: no-cache` makes the browser revalidate each time, so a new binary's files
 * are never mixed with an old binary's cached ones.
 */
export function consoleAssetResponse(
  asset: ConsoleAsset,
  req: { headers: { get(name: string): string | null } },
): Response {
  const headers: Record<string, string> = {
    ...CONSOLE_SECURITY_HEADERS,
    "content-type": asset.contentType,
    "cache-control": "no-cache",
    etag: asset.etag,
  };
  const ifNoneMatch = req.headers.get("if-none-match");
  if (ifNoneMatch !== null && ifNoneMatch.split(",").some((t) => t.trim() === asset.etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers["content-length"] = String(asset.body.length);
  return new Response(asset.body.slice(), { status: 200, headers });
}
