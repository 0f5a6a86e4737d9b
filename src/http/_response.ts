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

const encoder = new TextEncoder();

/**
 * Body bytes of the responses built here. Their `Response` objects carry status and headers
 * only (a null body: the fetch `Response` constructor would copy the bytes); the HTTP/1.1 front
 * writes the bytes from this map, so a 16 MiB value is not copied again per request.
 */
const rawBodies = new WeakMap<Response, Uint8Array>();

/** The body bytes of a response built by this module, or undefined for any other. */
export function rawBody(res: Response): Uint8Array | undefined {
  return rawBodies.get(res);
}

function withBody(body: Uint8Array, init: ResponseInit): Response {
  const res = new Response(null, init);
  rawBodies.set(res, body);
  return res;
}

/** A JSON response. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return withBody(encoder.encode(JSON.stringify(body) + "\n"), {
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
  return withBody(encoder.encode(body), { status, headers: { "content-type": contentType } });
}

/**
 * A raw bytes response (`application/octet-stream`). The bytes are written as they are, without
 * a copy: the engine's values are never changed in place, even when they are views into a
 * cached block.
 */
export function bytesResponse(body: Uint8Array, headers: Record<string, string> = {}): Response {
  return withBody(body, {
    status: 200,
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      ...headers,
    },
  });
}
