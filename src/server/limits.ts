/**
 * Limits of the RESP server, each with the reason it exists. They will be merged into
 * `src/limits.ts`; until then they live here. Relationships are asserted at load time.
 *
 * @module
 */

import { BATCH_OPS_MAX, BATCH_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import { assert } from "../util/assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Longest inline command line (Redis's PROTO_INLINE_MAX_SIZE): `nc` users type short lines. */
export const RESP_INLINE_LINE_BYTES_MAX = 64 * KiB;
/** Longest `*N`/`$N` header line before `\r\n`: a count never needs more than a few digits. */
export const RESP_HEADER_LINE_BYTES_MAX = 64 * KiB;
/** Largest bulk string: the engine's value limit, so every accepted value can be stored. */
export const RESP_BULK_SIZE_BYTES_MAX = VALUE_SIZE_BYTES_MAX;
/** Most arguments in one command: MSET of a full engine batch plus the command name. */
export const RESP_ARGS_MAX = 1 + 2 * BATCH_OPS_MAX;
/** Most bytes one client may have buffered for a single unparsed command (MSET of a batch). */
export const RESP_QUERY_BUFFER_BYTES_MAX = BATCH_SIZE_BYTES_MAX + 4 * MiB;
/** Most arguments of a command from a client that has not authenticated (Redis uses 10). */
export const RESP_UNAUTHENTICATED_ARGS_MAX = 10;
/** Largest bulk string from a client that has not authenticated (Redis uses 16 KiB). */
export const RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX = 16 * KiB;
/** Bytes read from a socket per read call. */
export const RESP_READ_CHUNK_BYTES = 64 * KiB;
/** Reply bytes buffered before they are written out mid-batch: bounds memory per client. */
export const RESP_OUTPUT_FLUSH_BYTES = 256 * KiB;
/** Default most connected clients (Redis's `maxclients` default). */
export const CLIENTS_MAX_DEFAULT = 10_000;
/** Largest accepted `maxclients`: each client holds buffers and a file descriptor. */
export const CLIENTS_MAX_LIMIT = 1_000_000;
/** Default idle timeout in seconds; 0 = never close idle clients (Redis's `timeout 0`). */
export const IDLE_TIMEOUT_S_DEFAULT = 0;
/** Longest client name (CLIENT SETNAME), to bound CLIENT LIST output. */
export const CLIENT_NAME_BYTES_MAX = 1 * KiB;
/** Most keys one SCAN call may examine (COUNT is clamped to this). */
export const SCAN_COUNT_MAX = 100_000;
/** Most keys KEYS returns: past this it answers an error instead of exhausting memory. */
export const KEYS_RESULT_MAX = 1_000_000;
/** Longest glob pattern (KEYS, SCAN MATCH, CONFIG GET): the matcher is backtracking. */
export const GLOB_PATTERN_BYTES_MAX = 4 * KiB;

assert(RESP_BULK_SIZE_BYTES_MAX <= RESP_QUERY_BUFFER_BYTES_MAX, "a bulk fits the query buffer");
assert(
  RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX < RESP_BULK_SIZE_BYTES_MAX,
  "unauthenticated bulk limit is tighter",
);
assert(RESP_UNAUTHENTICATED_ARGS_MAX < RESP_ARGS_MAX, "unauthenticated args limit is tighter");
assert(RESP_INLINE_LINE_BYTES_MAX < RESP_QUERY_BUFFER_BYTES_MAX, "a line fits the query buffer");
