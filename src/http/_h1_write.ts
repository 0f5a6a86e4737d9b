/**
 * Serialises a fetch `Response` as an HTTP/1.1 response: status line, the handler's headers
 * (minus framing ones the front owns), `content-length`, `date` and, when the connection is
 * about to close, `connection: close`. Bodies are whole `Uint8Array`s: every route answers
 * from memory.
 *
 * @module
 */

import { rawReply } from "./_response.ts";

const encoder = new TextEncoder();

/** Reason phrases of the statuses this server sends. */
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** Headers the front writes itself; a handler's copy is dropped. */
const OWN = new Set(["content-length", "transfer-encoding", "connection", "date", "keep-alive"]);

let dateSecond = -1;
let dateValue = "";

/** The `Date` value, formatted at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** True for statuses whose responses never carry a body (RFC 9110 § 6.4.1). */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** A response ready to write. */
export interface EncodedResponse {
  /** What to write, in order: head and body in one buffer, or (large bodies) two. */
  chunks: Uint8Array[];
  /** Body length as announced (the length a GET would get, for HEAD). */
  bodyBytes: number;
}

const EMPTY = new Uint8Array(0);
/** Bodies up to this size are copied behind the head and written with it. */
const SMALL_BODY_BYTES = 64 * 1024;

/**
 * Encodes `res`; `headRequest` omits the body, `close` adds `connection: close`, `keepAlive10`
 * adds `connection: keep-alive` (an HTTP/1.0 client closes without it).
 */
export async function encodeResponse(
  res: Response,
  options: { headRequest: boolean; close: boolean; keepAlive10?: boolean },
): Promise<EncodedResponse> {
  const status = res.status;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  const raw = rawReply(res);
  let body: Uint8Array;
  if (raw !== undefined) {
    body = raw.body;
    for (const name in raw.headers) {
      if (!OWN.has(name)) head += `${name}: ${raw.headers[name]}\r\n`;
    }
  } else {
    body = res.body === null ? EMPTY : new Uint8Array(await res.arrayBuffer());
    res.headers.forEach((value, name) => {
      if (!OWN.has(name)) head += `${name}: ${value}\r\n`;
    });
  }
  const noBody = bodyless(status);
  if (!noBody) head += `content-length: ${body.length}\r\n`;
  head += `date: ${httpDate()}\r\n`;
  if (options.close) head += "connection: close\r\n";
  else if (options.keepAlive10 === true) head += "connection: keep-alive\r\n";
  head += "\r\n";
  const bodyBytes = noBody ? 0 : body.length;
  if (noBody || options.headRequest) body = EMPTY;
  if (body.length > SMALL_BODY_BYTES) return { chunks: [encoder.encode(head), body], bodyBytes };
  // One buffer, one write (one syscall, no Nagle delay between head and body on TLS).
  // encodeInto skips an allocation; a head is ASCII, so its length is its byte count.
  let out = new Uint8Array(head.length + body.length);
  const { read, written } = encoder.encodeInto(head, out);
  if (read !== head.length || written !== head.length) {
    const bytes = encoder.encode(head);
    out = new Uint8Array(bytes.length + body.length);
    out.set(bytes);
  }
  out.set(body, out.length - body.length);
  return { chunks: [out], bodyBytes };
}

/** A complete small response the front answers by itself (protocol errors, 503 when full). */
export function cannedResponse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Uint8Array {
  const body = JSON.stringify({ error: message }) + "\n";
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n` +
    "content-type: application/json; charset=utf-8\r\n";
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head += `content-length: ${encoder.encode(body).length}\r\n` +
    `date: ${httpDate()}\r\nconnection: close\r\n\r\n`;
  return encoder.encode(head + body);
}

/** `HTTP/1.1 100 Continue`, sent before reading a body the client holds back for it. */
export const CONTINUE: Uint8Array = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
