/**
 * Response helpers and `HttpError`, the error a handler throws to answer with a status and a
 * JSON `{ "error": "…" }` body.
 *
 * @module
 */

/** A request that fails with an HTTP status; its message goes to the client. */
export class HttpError extends Error {
  /** HTTP status code, 4xx or 5xx. */
  readonly status: number;
  /** Extra response headers (`Allow`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;

  /** Creates the error. */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

/** A JSON response. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** A plain text response. */
export function textResponse(
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
): Response {
  return new Response(body, { status, headers: { "content-type": contentType } });
}

/** A raw bytes response (`application/octet-stream`). */
export function bytesResponse(body: Uint8Array, headers: Record<string, string> = {}): Response {
  // A fresh ArrayBuffer-backed copy: the engine's bytes may be a view into a shared block.
  const copy = new Uint8Array(body.length);
  copy.set(body);
  return new Response(copy, {
    status: 200,
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(copy.length),
      ...headers,
    },
  });
}
