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

/** What the HTTP/1.1 front writes for a response built here. */
export interface RawReply {
  /** Header fields as given to the helper (lower-case names). */
  headers: Record<string, string>;
  /** Body bytes. */
  body: Uint8Array;
}

/**
 * Headers and body of the responses built here. Their `Response` objects carry status and
 * headers for anyone who looks, but a null body (the fetch `Response` constructor would copy the
 * bytes): the HTTP/1.1 front writes from this map, so a 16 MiB value is not copied per request
 * and the `Headers` object is not walked. Such a response must not be changed after it is built.
 */
const rawReplies = new WeakMap<Response, RawReply>();

/** Headers and body of a response built by this module, or undefined for any other. */
export function rawReply(res: Response): RawReply | undefined {
  return rawReplies.get(res);
}

function withBody(
  body: Uint8Array,
  status: number,
  headers: Record<string, string>,
): Response {
  const res = new Response(null, { status, headers });
  rawReplies.set(res, { headers, body });
  return res;
}

/** A JSON response. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return withBody(encoder.encode(JSON.stringify(body) + "\n"), status, {
    "content-type": "application/json; charset=utf-8",
    ...headers,
  });
}

/** A plain text response. */
export function textResponse(
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
): Response {
  return withBody(encoder.encode(body), status, { "content-type": contentType });
}

/**
 * A raw bytes response (`application/octet-stream`). The bytes are written as they are, without
 * a copy: the engine's values are never changed in place, even when they are views into a
 * cached block.
 */
export function bytesResponse(body: Uint8Array, headers: Record<string, string> = {}): Response {
  return withBody(body, 200, {
    "content-type": "application/octet-stream",
    "content-length": String(body.length),
    ...headers,
  });
}

/** A response without a body (204 after a write). */
export function emptyResponse(status: number): Response {
  return withBody(new Uint8Array(0), status, {});
}
