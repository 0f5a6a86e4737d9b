/**
 * Cross-site request forgery guard for every write (ARCHITECTURE.md § "HTTP API",
 * "Browsers and CSRF"). The token travels in the `Authorization` header, which a page on another
 * site cannot set on a request to this server, and CityHall never uses cookies; but a server
 * without a token (the loopback default) would take a cross-site `POST` that a browser sends
 * without asking. So a write that a browser marks as coming from another origin is refused
 * before routing, whatever the token says.
 *
 * @module
 */

import { HttpError } from "./_response.ts";

/** Methods that never change anything: not checked. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** `authority` (a Host header) as `URL.host` gives it under `protocol` (default port dropped). */
function hostOf(authority: string, protocol: string): string | undefined {
  try {
    return new URL(`${protocol}//${authority}`).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Throws a 403 `HttpError` when `req` is a write (not GET/HEAD/OPTIONS) that a browser sent from
 * another origin: `Sec-Fetch-Site` other than `same-origin` or `none`, or an `Origin` header
 * whose host and port differ from the `Host` header (`Origin: null` included). Requests without
 * these headers (curl, Redis-style clients, scripts) pass: only browsers send them, and only
 * browsers can be tricked into sending a request.
 */
export function checkWriteOrigin(
  req: { readonly method: string; readonly headers: { get(name: string): string | null } },
): void {
  if (SAFE_METHODS.has(req.method)) return;
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    throw new HttpError(403, `Forbidden: a write from another site (Sec-Fetch-Site: ${site})`);
  }
  const origin = req.headers.get("origin");
  if (origin === null) return;
  const host = req.headers.get("host");
  let originHost: string | undefined;
  let requestHost: string | undefined;
  try {
    const url = new URL(origin);
    if (url.protocol === "http:" || url.protocol === "https:") {
      originHost = url.host.toLowerCase();
      requestHost = host === null ? undefined : hostOf(host, url.protocol);
    }
  } catch {
    originHost = undefined;
  }
  if (originHost === undefined || requestHost === undefined || originHost !== requestHost) {
    throw new HttpError(
      403,
      `Forbidden: a write from another origin (Origin: ${origin.slice(0, 200)}, Host: ${
        (host ?? "none").slice(0, 200)
      })`,
    );
  }
}
