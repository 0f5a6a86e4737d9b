/**
 * Limits of the HTTP API, each with the reason it exists. Engine limits (key and value size,
 * operations per batch) live in `src/limits.ts`; these bound what one HTTP request may make the
 * server buffer or produce. ARCHITECTURE.md § "HTTP API" lists them.
 *
 * @module
 */

import {
  BATCH_OPS_MAX,
  BATCH_SIZE_BYTES_MAX,
  KEY_SIZE_BYTES_MAX,
  VALUE_SIZE_BYTES_MAX,
} from "../limits.ts";
import { assert } from "../util/assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Default HTTP port (the RESP server uses 7878). */
export const HTTP_PORT_DEFAULT: number = 7880;

/** Largest body of `PUT /v1/keys/{key}`: the body is the value, so the engine's value limit. */
export const HTTP_VALUE_BODY_BYTES_MAX: number = VALUE_SIZE_BYTES_MAX;

/** JSON framing allowed per batch operation on top of its key and value (`{"op":…}`). */
export const HTTP_BATCH_OP_OVERHEAD_BYTES: number = 256;

/**
 * Largest body of `POST /v1/batch`: a largest engine batch with every key and value in base64
 * (4 bytes per 3), plus framing for the most operations. Values that need many JSON escapes
 * can reach this before the engine's limit; send them in base64.
 */
export const HTTP_BATCH_BODY_BYTES_MAX: number = Math.ceil(BATCH_SIZE_BYTES_MAX / 3) * 4 +
  BATCH_OPS_MAX * HTTP_BATCH_OP_OVERHEAD_BYTES;

/** Largest body of the seed alias `POST /keys` (one JSON key/value pair). */
export const HTTP_JSON_PUT_BODY_BYTES_MAX: number = Math.ceil(VALUE_SIZE_BYTES_MAX / 3) * 4 +
  Math.ceil(KEY_SIZE_BYTES_MAX / 3) * 4 + HTTP_BATCH_OP_OVERHEAD_BYTES;

/** Items one list page returns when `limit` is not given. */
export const HTTP_LIST_LIMIT_DEFAULT: number = 100;

/** Most items one list page may ask for (`limit`); more is a 400. */
export const HTTP_LIST_LIMIT_MAX: number = 10_000;

/**
 * Key + value bytes one list page collects before it stops early and returns a cursor: 10,000
 * items of 16 MiB must not be buffered in one response. A page always holds at least one item.
 */
export const HTTP_LIST_RESPONSE_BYTES_MAX: number = 64 * MiB;

/**
 * Longest request target (path + query) accepted; longer is a 414. Room for one largest key
 * fully percent-encoded (3 characters per byte) plus 4 KiB of query. Deno's HTTP layer resets
 * connections whose request head passes about 64 KiB before any handler runs.
 */
export const HTTP_URL_LENGTH_MAX: number = 3 * KEY_SIZE_BYTES_MAX + 4 * KiB;

/** Longest `Authorization` header value looked at; longer is refused without hashing. */
export const HTTP_AUTH_HEADER_LENGTH_MAX: number = 4 * KiB;

assert(HTTP_LIST_LIMIT_DEFAULT <= HTTP_LIST_LIMIT_MAX, "list default <= max");
assert(HTTP_VALUE_BODY_BYTES_MAX <= HTTP_BATCH_BODY_BYTES_MAX, "a value fits a batch body");
assert(
  HTTP_LIST_RESPONSE_BYTES_MAX >= KEY_SIZE_BYTES_MAX + VALUE_SIZE_BYTES_MAX,
  "one largest item fits a list page",
);
