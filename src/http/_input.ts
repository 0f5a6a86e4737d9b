/**
 * Parsing and validation of request input: bodies with size limits, JSON, base64, query
 * parameters, list cursors and batch operations. Everything here throws `HttpError` (400 or
 * 413) before the engine is called, so a bad request writes nothing.
 *
 * @module
 */

import { isInternalKey } from "../keyspace/mod.ts";
import type { WriteOp } from "../engine/mod.ts";
import { HTTP_BATCH_OPS_MAX, KEY_SIZE_BYTES_MAX } from "../limits.ts";
import { toBytes } from "../util/bytes.ts";
import type { IncomingRequest } from "./_h1_body.ts";
import { type JsonLimits, JsonPushParser } from "./_json.ts";
import { JsonBytes } from "./_json_raw.ts";
import { Buffer } from "node:buffer";
import { HttpError } from "./_response.ts";
import { BYTES_PER_TURN, yieldToEventLoop } from "./_yield.ts";
import type { QueryParams } from "./_url.ts";
import {
  HTTP_JSON_DEPTH_MAX,
  HTTP_JSON_STRING_BYTES_MAX,
  HTTP_JSON_VALUES_MAX,
  HTTP_LIST_LIMIT_DEFAULT,
  HTTP_LIST_LIMIT_MAX,
} from "../limits.ts";

const EMPTY = new Uint8Array(0);

/** How keys and values travel in JSON: UTF-8 text or standard base64. */
export type Encoding = "utf8" | "base64";

/** The 413 for a body over `limitBytes`; `size` says how large it was. */
function tooLarge(size: string, limitBytes: number, limitName: string): HttpError {
  return new HttpError(
    413,
    `Request body too large: ${size} (limit ${limitBytes} bytes: ${limitName})`,
  );
}

/**
 * Feeds a request body of at most `limitBytes` to `onPiece`, piece by piece as it arrives: a
 * larger `Content-Length` is refused before anything is read, and the bytes actually streamed
 * are counted too (chunked bodies). Over the limit is a 413 naming `limitName`. Returns the
 * number of bytes read.
 */
export async function streamBody(
  req: IncomingRequest,
  limitBytes: number,
  limitName: string,
  onPiece: (piece: Uint8Array) => void,
): Promise<number> {
  const header = req.headers.get("content-length");
  if (header !== null && /^[0-9]+$/.test(header) && Number(header) > limitBytes) {
    await req.body?.cancel();
    throw tooLarge(`${header} bytes`, limitBytes, limitName);
  }
  if (req.body === null) return 0;
  let total = 0;
  let sinceYield = 0;
  for (;;) {
    const piece = await req.body.read();
    if (piece === null) return total;
    total += piece.length;
    sinceYield += piece.length;
    if (sinceYield >= BYTES_PER_TURN) {
      // Reads of a fast upload complete without waiting: let other clients in.
      sinceYield = 0;
      await yieldToEventLoop();
    }
    if (total > limitBytes) {
      await req.body.cancel();
      throw tooLarge(`more than ${limitBytes} bytes`, limitBytes, limitName);
    }
    onPiece(piece);
  }
}

/** Reads a whole request body of at most `limitBytes` (see `streamBody`). */
export async function readBody(
  req: IncomingRequest,
  limitBytes: number,
  limitName: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const total = await streamBody(req, limitBytes, limitName, (piece) => chunks.push(piece));
  if (chunks.length === 0) return EMPTY;
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Default bounds of a JSON body. */
export const JSON_LIMITS_DEFAULT: JsonLimits = {
  depthMax: HTTP_JSON_DEPTH_MAX,
  valuesMax: HTTP_JSON_VALUES_MAX,
};

/**
 * Reads and parses a JSON body of at most `limitBytes`, parsing each piece as it arrives (so a
 * large body never stalls other clients and a too-deep one is refused at the first byte over
 * `limits.depthMax`). Malformed UTF-8 or JSON is a 400.
 */
export async function readJson(
  req: IncomingRequest,
  limitBytes: number,
  limitName: string,
  limits: JsonLimits = JSON_LIMITS_DEFAULT,
): Promise<unknown> {
  const parser = new JsonPushParser(limits);
  await streamBody(req, limitBytes, limitName, (piece) => parser.push(piece));
  return parser.end();
}

/**
 * Parses a JSON body already in memory, within `limits` (nesting and value count, checked
 * while parsing). Prefer `readJson`: this one parses in one go.
 */
export function parseJson(body: Uint8Array, limits: JsonLimits = JSON_LIMITS_DEFAULT): unknown {
  const parser = new JsonPushParser(limits);
  parser.push(body);
  return parser.end();
}

/** True for a JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Rejects fields of `obj` not in `allowed` (catches typos such as `ttl` for `ttl_ms`). */
export function checkFields(
  obj: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): void {
  for (const name of Object.keys(obj)) {
    if (!allowed.includes(name)) {
      throw new HttpError(
        400,
        `${where}: unknown field "${name}" (allowed: ${allowed.join(", ")})`,
      );
    }
  }
}

/** Parses an `encoding` value; absent means UTF-8. */
export function parseEncoding(value: unknown, where: string): Encoding {
  if (value === undefined || value === "utf8") return "utf8";
  if (value === "base64") return "base64";
  throw new HttpError(400, `${where}: encoding must be "utf8" or "base64"`);
}

/** Decodes standard base64 (padding optional); anything else is a 400 naming `what`. */
export function decodeBase64(text: string, what: string): Uint8Array {
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    throw new HttpError(400, `Invalid base64 in ${what}`);
  }
}

/** A JSON string field as bytes under `encoding`; long strings may arrive as `JsonBytes`. */
export function decodeField(value: unknown, encoding: Encoding, what: string): Uint8Array {
  if (value instanceof JsonBytes) {
    if (encoding === "utf8") return value.bytes;
    // Base64 is ASCII; any other byte turns into a character fromBase64 refuses.
    const bytes = value.bytes;
    return decodeBase64(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1"),
      what,
    );
  }
  if (typeof value !== "string") throw new HttpError(400, `Invalid ${what}: must be a string`);
  return encoding === "base64" ? decodeBase64(value, what) : toBytes(value);
}

/** Encodes bytes for JSON output under `encoding` (UTF-8 is lossy for non-UTF-8 bytes). */
export function encodeField(bytes: Uint8Array, encoding: Encoding): string {
  return encoding === "base64" ? bytes.toBase64() : new TextDecoder().decode(bytes);
}

/** Checks a key taken from a URL: not empty, not over `KEY_SIZE_BYTES_MAX`. */
export function checkPathKey(key: Uint8Array): void {
  if (key.length === 0) {
    throw new HttpError(400, "Invalid key: empty (list keys with GET /v1/keys)");
  }
  if (key.length > KEY_SIZE_BYTES_MAX) {
    throw new HttpError(
      400,
      `Key too large: ${key.length} bytes (limit ${KEY_SIZE_BYTES_MAX} bytes)`,
    );
  }
  checkUserKey(key, "Invalid key");
}

/** Refuses a key in the internal range (ARCHITECTURE.md § "Keyspace"). */
export function checkUserKey(key: Uint8Array, where: string): void {
  if (isInternalKey(key)) {
    throw new HttpError(
      400,
      `${where}: keys starting with byte 0xff are reserved for CityHall's internal data`,
    );
  }
}

/** Parses a TTL in milliseconds: a positive integer; `undefined` when absent. */
export function parseTtlMs(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  let n: number;
  if (typeof value === "string") {
    n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  } else if (typeof value === "number") {
    n = value;
  } else {
    n = NaN;
  }
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new HttpError(
      400,
      `Invalid ${what}: ${JSON.stringify(value)} (must be a positive integer)`,
    );
  }
  return n;
}

/** Parses a boolean query parameter: `true`/`1`/empty or `false`/`0`. */
export function parseBool(value: string | undefined, name: string): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1" || value === "") return true;
  throw new HttpError(400, `Invalid ${name}: ${JSON.stringify(value)} (must be true or false)`);
}

/** Parses `limit`: an integer from 1 to `HTTP_LIST_LIMIT_MAX`, default `defaultLimit`. */
export function parseLimit(
  value: string | undefined,
  defaultLimit: number = HTTP_LIST_LIMIT_DEFAULT,
): number {
  if (value === undefined) return defaultLimit;
  const n = /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= HTTP_LIST_LIMIT_MAX)) {
    throw new HttpError(
      400,
      `Invalid limit: ${JSON.stringify(value)} (must be an integer from 1 to ` +
        `${HTTP_LIST_LIMIT_MAX})`,
    );
  }
  return n;
}

/** Cursor format version letter: a cursor is `k` + base64url (no padding) of the last key. */
const CURSOR_PREFIX = "k";

/** The cursor that continues after (or, reversed, before) `lastKey`. */
export function encodeCursor(lastKey: Uint8Array): string {
  return CURSOR_PREFIX + lastKey.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** The last key a cursor names; a malformed cursor is a 400. */
export function decodeCursor(cursor: string): Uint8Array {
  if (!cursor.startsWith(CURSOR_PREFIX)) throw new HttpError(400, "Invalid cursor: unknown format");
  let key: Uint8Array;
  try {
    key = Uint8Array.fromBase64(cursor.slice(CURSOR_PREFIX.length), { alphabet: "base64url" });
  } catch {
    throw new HttpError(400, "Invalid cursor: not base64url");
  }
  if (key.length > KEY_SIZE_BYTES_MAX) throw new HttpError(400, "Invalid cursor: key too large");
  return key;
}

/** A non-empty query parameter as bytes; empty or absent is `undefined`. */
export function bytesParam(query: QueryParams, name: string): Uint8Array | undefined {
  const b = query.bytes(name);
  return b === undefined || b.length === 0 ? undefined : b;
}

/**
 * Strings of at least this many bytes are read as bytes (`JsonBytes`) by the key/value routes:
 * values are data, and a string plus its bytes would hold every value twice.
 */
export const BYTES_STRINGS_FROM = 256;

/** The shape of a batch body: `{"ops":[{…}]}` is 3 levels; 6 values per op at most. */
export const BATCH_JSON_LIMITS: JsonLimits = {
  depthMax: 3,
  valuesMax: HTTP_BATCH_OPS_MAX * 6 + 2,
  bytesStringsFrom: BYTES_STRINGS_FROM,
  bytesStringBytesMax: HTTP_JSON_STRING_BYTES_MAX,
};

/**
 * Parses and validates `POST /v1/batch`'s body into engine operations. Every operation is
 * checked before any is returned; TTLs are relative to `nowMs`. Decoding tens of megabytes of
 * values yields to the event loop every few megabytes so other clients are not stalled.
 */
export async function parseBatch(body: unknown, nowMs: number): Promise<WriteOp[]> {
  if (!isObject(body) || !Array.isArray(body.ops)) {
    throw new HttpError(400, 'Invalid batch: body must be a JSON object with an "ops" array');
  }
  checkFields(body, ["ops"], "Invalid batch");
  const ops: unknown[] = body.ops;
  if (ops.length > HTTP_BATCH_OPS_MAX) {
    throw new HttpError(
      400,
      `Batch too large: ${ops.length} operations (limit ${HTTP_BATCH_OPS_MAX} operations)`,
    );
  }
  const out: WriteOp[] = [];
  let decoded = 0;
  for (let i = 0; i < ops.length; i++) {
    if (decoded >= BYTES_PER_TURN) {
      decoded = 0;
      await yieldToEventLoop();
    }
    const raw = ops[i];
    const where = `Invalid batch operation ${i}`;
    if (!isObject(raw)) throw new HttpError(400, `${where}: not an object`);
    if (raw.op === "put") {
      checkFields(raw, ["op", "key", "value", "ttl_ms", "encoding"], where);
    } else if (raw.op === "delete") {
      checkFields(raw, ["op", "key", "encoding"], where);
    } else {
      throw new HttpError(400, `${where}: op must be "put" or "delete"`);
    }
    const encoding = parseEncoding(raw.encoding, where);
    const key = decodeField(raw.key, encoding, `batch operation ${i} key`);
    if (key.length > KEY_SIZE_BYTES_MAX) {
      throw new HttpError(
        400,
        `${where}: key too large: ${key.length} bytes ` +
          `(limit ${KEY_SIZE_BYTES_MAX} bytes)`,
      );
    }
    checkUserKey(key, where);
    if (raw.op === "delete") {
      out.push({ type: "delete", key });
      continue;
    }
    const value = decodeField(raw.value, encoding, `batch operation ${i} value`);
    decoded += key.length + value.length;
    const ttlMs = parseTtlMs(raw.ttl_ms, `batch operation ${i} ttl_ms`);
    out.push(
      ttlMs === undefined
        ? { type: "put", key, value }
        : { type: "put", key, value, expireAtMs: nowMs + ttlMs },
    );
  }
  return out;
}
