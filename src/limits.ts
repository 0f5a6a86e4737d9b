/**
 * Every limit CityHall enforces, in one place (like denokv's `limits.rs`), each with the reason
 * it exists. Names carry their unit. Relationships between limits are asserted at load time.
 *
 * Past a limit the operation fails with `InvalidArgumentError` (engine) or a protocol error
 * (server) and nothing is changed.
 *
 * @module
 */

import { assert } from "./util/assert.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest key: keys live in index blocks and in memory for every scan; 16 KiB is generous. */
export const KEY_SIZE_BYTES_MAX: number = 16 * KiB;
/** Largest value: one value must fit in memory several times over on a small box. */
export const VALUE_SIZE_BYTES_MAX: number = 16 * MiB;
/**
 * Most operations in one atomic batch. An MSET or MSETNX is one batch (a crash keeps all of it
 * or none, as Redis's AOF does) and Redis bounds MSET only by its query buffer, so a batch holds
 * every key an MSET the protocol accepts can name (asserted against `RESP_ARGS_MAX` below);
 * bytes stay bounded by `BATCH_SIZE_BYTES_MAX`, heap by `RESP_QUERY_BUFFER_BYTES_MAX`.
 */
export const BATCH_OPS_MAX: number = 512 * 1024;
/**
 * Most operations per engine batch of a server command that may span several batches (DEL of
 * many keys, *STORE, COPY: atomic for other clients, crash-safe by write order, not one batch):
 * keeps each WAL record and replication DATA frame they produce near a megabyte.
 */
export const WRITE_CHUNK_OPS: number = 10_000;
/** Largest atomic batch in key + value bytes: one WAL record must be read whole at recovery. */
export const BATCH_SIZE_BYTES_MAX: number = 64 * MiB;
/** Largest expiry time accepted (year 275760, the end of JavaScript's Date range). */
export const EXPIRE_AT_MS_MAX: number = 8_640_000_000_000_000;

/** Header of one WAL record: length u32, crc u32, sequence u64, type u8. */
export const WAL_RECORD_HEADER_BYTES: number = 17;
/** Largest WAL record payload: a full batch plus its per-op framing. */
export const WAL_RECORD_PAYLOAD_BYTES_MAX: number = BATCH_SIZE_BYTES_MAX +
  BATCH_OPS_MAX * 32;
/** Default WAL segment size; segments are preallocated so fdatasync does not change the size. */
export const WAL_SEGMENT_SIZE_BYTES_DEFAULT: number = 32 * MiB;
/**
 * Size of the first WAL segment a writer creates (capped by the configured segment size):
 * preallocation then grows with the write rate, so that a one-shot command or an idle
 * database does not leave a whole default-size segment of zeros behind.
 */
export const WAL_SEGMENT_SIZE_BYTES_INITIAL: number = 1 * MiB;
/** A segment half filled faster than this doubles the next one (up to the configured size). */
export const WAL_SEGMENT_GROW_HALF_FILL_MS: number = 2_000;
/** A segment half filled slower than this halves the next one (down to the initial size). */
export const WAL_SEGMENT_SHRINK_HALF_FILL_MS: number = 60_000;
/** Largest WAL segment: a segment is scanned whole at recovery. */
export const WAL_SEGMENT_SIZE_BYTES_MAX: number = 1024 * MiB;
/** Most bytes one group commit writes before it syncs: bounds the latency of the first writer. */
export const WAL_GROUP_COMMIT_BYTES_MAX: number = 4 * MiB;
/** Trailer of a version-2 WAL record: synced-through offset u32, trailer crc u32. */
export const WAL_RECORD_TRAILER_BYTES: number = 8;
/** Between two attempts to find disk space again after ENOSPC ("disk full" heals by itself). */
export const DISK_FULL_RETRY_MS: number = 1000;
/**
 * WAL bytes in closed segments above the manifest's `flushedSeq` at which the memtable is
 * flushed early: log ops (time-series samples) fill the WAL far faster than the memtable, and
 * everything above `flushedSeq` is kept and replayed at open.
 */
export const WAL_RETAINED_BYTES_FLUSH: number = 64 * MiB;

/** Default memtable size before it turns immutable and is flushed. */
export const MEMTABLE_SIZE_BYTES_DEFAULT: number = 64 * MiB;
/** Immutable memtables waiting for flush before writers are made to wait (backpressure). */
export const IMMUTABLE_MEMTABLES_MAX: number = 2;

/** Target uncompressed size of an SSTable data block. */
export const BLOCK_SIZE_BYTES_DEFAULT: number = 4 * KiB;
/** Largest data block accepted when reading: a corrupt length must not allocate gigabytes. */
export const BLOCK_SIZE_BYTES_MAX: number = VALUE_SIZE_BYTES_MAX + KEY_SIZE_BYTES_MAX +
  64 * KiB;
/** Keys between restart points in a data block. */
export const BLOCK_RESTART_INTERVAL: number = 16;
/** Default bloom filter bits per key: ~1% false positives. */
export const BLOOM_BITS_PER_KEY_DEFAULT: number = 10;
/** Default block cache size. */
export const BLOCK_CACHE_SIZE_BYTES_DEFAULT: number = 32 * MiB;
/**
 * Default row cache size (point reads' entries found in SSTables, kept whole): a few MiB hold
 * tens of thousands of small hot keys, and an unused cache allocates nothing.
 */
export const ROW_CACHE_SIZE_BYTES_DEFAULT: number = 4 * MiB;
/**
 * Bytes charged per cached row beyond its key and value: the row object and its value's
 * `Uint8Array` view on V8's heap (160 bytes measured; the slot arrays are charged apart).
 */
export const ROW_CACHE_ROW_OVERHEAD_BYTES: number = 160;
/** Target SSTable size written by compaction before starting a new file. */
export const SSTABLE_SIZE_BYTES_TARGET: number = 64 * MiB;

/** Most LSM levels: tiered levels grow 4× each, so 64 is far beyond any disk. */
export const LSM_LEVELS_MAX: number = 64;

/** Largest manifest file: it lists table metadata only. */
export const MANIFEST_SIZE_BYTES_MAX: number = 64 * MiB;
/** Ancestor histories a manifest remembers (one per recovery past WAL damage). */
export const HISTORY_ANCESTORS_MAX: number = 64;

/** Largest table file `verify` and `salvage` read whole: tables are cut at 64 MiB plus one entry. */
export const SALVAGE_TABLE_SIZE_BYTES_MAX: number = 1024 * MiB;
/**
 * Most bytes one table's damaged regions may cost to resynchronize on (CRC steps while looking
 * for the next block trailer, about 10 s): the search is quadratic in the region's size.
 */
export const SALVAGE_RESYNC_STEPS_MAX: number = 256 * MiB;
/** Largest record of a salvage export: one key and one value with their framing. */
export const EXPORT_RECORD_BYTES_MAX: number = KEY_SIZE_BYTES_MAX + VALUE_SIZE_BYTES_MAX + 64;

assert(
  WAL_SEGMENT_SIZE_BYTES_DEFAULT <= WAL_SEGMENT_SIZE_BYTES_MAX,
  "segment default > max",
);
assert(
  // Segment header, the record with its trailer, and the seal that closes the segment.
  32 + WAL_RECORD_HEADER_BYTES + WAL_RECORD_PAYLOAD_BYTES_MAX + WAL_RECORD_TRAILER_BYTES +
      (WAL_RECORD_HEADER_BYTES + 1 + WAL_RECORD_TRAILER_BYTES) <= WAL_SEGMENT_SIZE_BYTES_MAX,
  "a largest record must fit in the largest segment",
);
assert(
  WAL_SEGMENT_SIZE_BYTES_MAX <= 0xffff_ffff,
  "a segment offset fits the u32 synced-through field of a WAL record",
);
assert(
  KEY_SIZE_BYTES_MAX + VALUE_SIZE_BYTES_MAX <= BATCH_SIZE_BYTES_MAX,
  "one put fits a batch",
);
assert(BLOCK_SIZE_BYTES_DEFAULT < BLOCK_SIZE_BYTES_MAX, "block default < max");

// ---------------------------------------------------------------- RESP server

/** Longest inline command line (Redis's PROTO_INLINE_MAX_SIZE): `nc` users type short lines. */
export const RESP_INLINE_LINE_BYTES_MAX: number = 64 * KiB;
/** Longest `*N`/`$N` header line before `\r\n`: a count never needs more than a few digits. */
export const RESP_HEADER_LINE_BYTES_MAX: number = 64 * KiB;
/** Largest bulk string: the engine's value limit, so every accepted value can be stored. */
export const RESP_BULK_SIZE_BYTES_MAX: number = VALUE_SIZE_BYTES_MAX;
/**
 * Most arguments in one command (Redis 6's multibulk limit): SADD, ZADD, DEL ... of many members
 * in one command are common in bulk loads, and Redis's own suite sends 100,000. Memory is bound
 * by the query buffer limit, which counts `RESP_ARG_OVERHEAD_BYTES` per argument.
 */
export const RESP_ARGS_MAX: number = 1024 * 1024;
/**
 * Heap one parsed argument costs beyond its bytes (its own byte array and a slot in the list):
 * counted against `RESP_QUERY_BUFFER_BYTES_MAX`, so a million one-byte arguments cannot turn a
 * 7 MB request into ~100 MB of objects unchecked.
 */
export const RESP_ARG_OVERHEAD_BYTES: number = 96;
/**
 * Most bytes one client may have buffered for a single unparsed command, arguments counted with
 * their overhead: MSET of a full engine batch fits.
 */
export const RESP_QUERY_BUFFER_BYTES_MAX: number = BATCH_SIZE_BYTES_MAX + 4 * MiB;
/**
 * Most elements one SORT loads and sorts (a LIMIT window of a list or sorted set without
 * sorting counts only its own): each costs memory for its bytes, its weight and a GET lookup.
 */
export const SORT_ELEMENTS_MAX: number = 1024 * 1024;
/** Most arguments of a command from a client that has not authenticated (Redis uses 10). */
export const RESP_UNAUTHENTICATED_ARGS_MAX: number = 10;
/** Largest bulk string from a client that has not authenticated (Redis uses 16 KiB). */
export const RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX: number = 16 * KiB;
/** Most bytes read from a socket per read call (a busy pipelining client grows to this). */
export const RESP_READ_CHUNK_BYTES: number = 64 * KiB;
/** First read buffer of a connection: an idle connection holds only this much. */
export const RESP_READ_CHUNK_BYTES_MIN: number = 1 * KiB;
/** Reply bytes buffered before they are written out mid-batch: bounds memory per client. */
export const RESP_OUTPUT_FLUSH_BYTES: number = 256 * KiB;
/** First size of a connection's reply buffer (allocated on the first reply, grown by doubling). */
export const RESP_OUTPUT_BUFFER_BYTES_INITIAL: number = 4 * KiB;
/** Reply buffers idle connections leave for the next one (each <= 16 KiB: <= 1 MiB in all). */
export const RESP_OUTPUT_BUFFER_POOL_MAX: number = 64;
/** Bulk values this big or bigger are written from the engine's bytes instead of copied. */
export const RESP_OUTPUT_REF_BYTES_MIN: number = 16 * KiB;
/** Default hard output limit: a client whose pending replies would pass it is closed at once. */
export const RESP_OUTPUT_HARD_LIMIT_BYTES_DEFAULT: number = 64 * MiB;
/** Default soft output limit: a client above it for `RESP_OUTPUT_SOFT_LIMIT_S_DEFAULT` is closed. */
export const RESP_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT: number = 32 * MiB;
/** Default seconds a client may stay above the soft output limit. */
export const RESP_OUTPUT_SOFT_LIMIT_S_DEFAULT: number = 30;
/** Default seconds a client's pending replies may stay undrained (it stopped reading). */
export const RESP_OUTPUT_DRAIN_TIMEOUT_S_DEFAULT: number = 60;
/** Default most connected clients (Redis's `maxclients` default). */
export const CLIENTS_MAX_DEFAULT: number = 10_000;
/** Largest accepted `maxclients`: each client holds buffers and a file descriptor. */
export const CLIENTS_MAX_LIMIT: number = 1_000_000;
/**
 * Default most clients connected but not yet authenticated (a token is set): past it the oldest
 * of them is closed, so squatters cannot lock real clients out.
 */
export const CLIENTS_UNAUTHENTICATED_MAX_DEFAULT: number = 1_000;
/** Default idle timeout in seconds (`timeout`; 0 = never): abandoned connections are reclaimed. */
export const IDLE_TIMEOUT_S_DEFAULT: number = 300;
/** Default seconds a client has to authenticate when a token is set (0 = no deadline). */
export const AUTH_TIMEOUT_S_DEFAULT: number = 10;
/** Default seconds a command may take to arrive complete from its first byte (0 = no deadline). */
export const REQUEST_TIMEOUT_S_DEFAULT: number = 60;
/** How often the server checks every client's deadlines and output limits. */
export const CLIENT_CHECK_INTERVAL_MS: number = 250;
/** Delay of the reply to a connection's first failed AUTH; each further failure doubles it. */
export const AUTH_FAILURE_DELAY_MS: number = 100;
/** Longest delay of a failed AUTH's reply. */
export const AUTH_FAILURE_DELAY_MS_MAX: number = 2_000;
/** Failed AUTHs after which a connection is closed. */
export const AUTH_FAILURES_PER_CONNECTION_MAX: number = 10;
/** Failed AUTHs from one address within the window after which each failure closes at once. */
export const AUTH_FAILURES_PER_SOURCE_MAX: number = 30;
/** Window over which failed AUTHs per source address are counted. */
export const AUTH_FAILURE_WINDOW_MS: number = 60_000;
/** Most source addresses whose failures are tracked; the least recent is forgotten first. */
export const AUTH_FAILURE_SOURCES_MAX: number = 4_096;
/** Shortest token accepted for a non-loopback bind. */
export const AUTH_TOKEN_PUBLIC_BYTES_MIN: number = 16;
/** Least estimated entropy (bits) of a token for a non-loopback bind: not `aaaa...` or `abab...`. */
export const AUTH_TOKEN_PUBLIC_ENTROPY_BITS_MIN: number = 48;
/** Most commands queued in one MULTI: bounds the memory of a transaction. */
export const MULTI_QUEUED_COMMANDS_MAX: number = 100_000;
/** Most argument bytes queued in one MULTI: a transaction's writes must fit one batch anyway. */
export const MULTI_QUEUED_BYTES_MAX: number = RESP_QUERY_BUFFER_BYTES_MAX;
/** Most keys one connection may WATCH: each costs memory until EXEC, DISCARD or UNWATCH. */
export const MULTI_WATCHED_KEYS_MAX: number = 100_000;
/** Longest client name (CLIENT SETNAME), to bound CLIENT LIST output. */
export const CLIENT_NAME_BYTES_MAX: number = 1 * KiB;
/** Most keys one SCAN call may examine (COUNT is clamped to this). */
export const SCAN_COUNT_MAX: number = 100_000;
/** Most keys KEYS returns: past this it answers an error instead of exhausting memory. */
export const KEYS_RESULT_MAX: number = 1_000_000;
/** Longest glob pattern (KEYS, SCAN MATCH, CONFIG GET): the matcher is backtracking. */
export const GLOB_PATTERN_BYTES_MAX: number = 4 * KiB;

assert(RESP_BULK_SIZE_BYTES_MAX <= RESP_QUERY_BUFFER_BYTES_MAX, "a bulk fits the query buffer");
assert(
  RESP_UNAUTHENTICATED_BULK_SIZE_BYTES_MAX < RESP_BULK_SIZE_BYTES_MAX,
  "unauthenticated bulk limit is tighter",
);
assert(RESP_UNAUTHENTICATED_ARGS_MAX < RESP_ARGS_MAX, "unauthenticated args limit is tighter");
assert((RESP_ARGS_MAX - 1) / 2 <= BATCH_OPS_MAX, "every MSET the protocol accepts is one batch");
assert(WRITE_CHUNK_OPS <= BATCH_OPS_MAX, "a write chunk is one batch");
assert(RESP_INLINE_LINE_BYTES_MAX < RESP_QUERY_BUFFER_BYTES_MAX, "a line fits the query buffer");
assert(RESP_READ_CHUNK_BYTES_MIN <= RESP_READ_CHUNK_BYTES, "read chunk min <= max");
assert(
  RESP_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT <= RESP_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
  "soft output limit <= hard",
);
assert(
  RESP_OUTPUT_HARD_LIMIT_BYTES_DEFAULT >= 2 * RESP_BULK_SIZE_BYTES_MAX,
  "a largest value fits the output limit twice over",
);
assert(AUTH_FAILURE_DELAY_MS <= AUTH_FAILURE_DELAY_MS_MAX, "auth delay <= max");

// ---------------------------------------------------------------- RESP server: pub/sub, operator commands

/** Default hard output limit of a subscriber or MONITOR client (Redis `pubsub 32mb 8mb 60`). */
export const PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT: number = 32 * MiB;
/** Default soft output limit of a subscriber: above it for 60 s, it is closed (Redis's default). */
export const PUBSUB_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT: number = 8 * MiB;
/** Default seconds a subscriber may stay above its soft output limit. */
export const PUBSUB_OUTPUT_SOFT_LIMIT_S_DEFAULT: number = 60;
/** Most channels, shard channels and patterns one connection may subscribe to. */
export const PUBSUB_CLIENT_SUBSCRIPTIONS_MAX: number = 10_000;
/** Most subscriptions of all clients together: each costs a map entry per side. */
export const PUBSUB_SUBSCRIPTIONS_MAX: number = 1_000_000;
/** Most distinct patterns server-wide: every PUBLISH matches its channel against each one. */
export const PUBSUB_PATTERNS_MAX: number = 10_000;
/** Bytes of distinct channel and pattern names held server-wide. */
export const PUBSUB_NAME_BYTES_MAX: number = 64 * MiB;
/** Longest channel or pattern name: a keyspace channel of the longest key fits. */
export const PUBSUB_NAME_BYTES_MAX_EACH: number = KEY_SIZE_BYTES_MAX + 64;
/** Most MONITOR clients at once: each one costs a formatted line per command run. */
export const MONITOR_CLIENTS_MAX: number = 16;
/** Largest `slowlog-max-len`: an entry keeps up to 32 arguments of 128 bytes. */
export const SLOWLOG_LEN_MAX: number = 10_000;
/** Arguments a slow log entry keeps (Redis's SLOWLOG_ENTRY_MAX_ARGC). */
export const SLOWLOG_ENTRY_ARGS_MAX: number = 32;
/** Bytes of one argument a slow log entry keeps (Redis's SLOWLOG_ENTRY_MAX_STRING). */
export const SLOWLOG_ENTRY_ARG_BYTES_MAX: number = 128;
/** Samples of one latency event's history (Redis's LATENCY_TS_LEN). */
export const LATENCY_HISTORY_SAMPLES_MAX: number = 160;
/** Keys whose expiry the server watches to publish `expired` events (the rest wait a sweep). */
export const EXPIRY_TRACKED_KEYS_MAX: number = 65_536;
/** Keys the expiry sweep reads per tick while `expired` events are on. */
export const EXPIRY_SWEEP_KEYS_PER_TICK: number = 1_000;
/** Keys whose expiry INFO keyspace reads one by one; past them it reads every 2nd, 4th ... key. */
export const INFO_EXPIRY_EXACT_KEYS: number = 10_000;
/** Working memory of one LCS (4 bytes per cell of its (n + 1) × (m + 1) table). */
export const LCS_TABLE_BYTES_MAX: number = 64 * MiB;
/** Times a second the server's cron runs by default: expiry tracking (Redis `hz` 10). */
export const SERVER_HZ_DEFAULT: number = 10;
/** Highest `hz` (CONFIG SET clamps to 1 ... this, as Redis's CONFIG_MAX_HZ). */
export const SERVER_HZ_MAX: number = 500;
/** Interval of the instantaneous metrics' samples (Redis: 100 ms, or every cron tick when slower). */
export const SERVER_CRON_INTERVAL_MS: number = 100;
/** Samples averaged by `instantaneous_ops_per_sec` and the kbps figures (Redis's 16). */
export const INSTANTANEOUS_METRIC_SAMPLES: number = 16;
/**
 * Keys the client-side caching table remembers by default (Redis `tracking-table-max-keys`);
 * past it the oldest keys are dropped with an invalidation, as Redis does.
 */
export const TRACKING_TABLE_KEYS_DEFAULT: number = 1_000_000;
/**
 * Largest `tracking-table-max-keys`, and the bound when it is 0 (Redis: no limit): each key
 * costs its bytes and a set of client ids, so the table stays bounded whatever is configured.
 */
export const TRACKING_TABLE_KEYS_MAX: number = 10_000_000;
/** BCAST prefixes of one client: each write is compared with every prefix of every client. */
export const TRACKING_PREFIXES_PER_CLIENT_MAX: number = 1_000;

assert(
  PUBSUB_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT <= PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
  "pubsub soft output limit <= hard",
);
assert(PUBSUB_CLIENT_SUBSCRIPTIONS_MAX <= PUBSUB_SUBSCRIPTIONS_MAX, "per-client <= server-wide");
assert(PUBSUB_NAME_BYTES_MAX_EACH <= PUBSUB_NAME_BYTES_MAX, "one name fits the name budget");
assert(TRACKING_TABLE_KEYS_DEFAULT <= TRACKING_TABLE_KEYS_MAX, "tracking table default <= max");

// ---------------------------------------------------------------- HTTP API

/** Default HTTP port (the RESP server uses 7878). */
export const HTTP_PORT_DEFAULT: number = 7880;

/** Largest body of `PUT /v1/keys/{key}`: the body is the value, so the engine's value limit. */
export const HTTP_VALUE_BODY_BYTES_MAX: number = VALUE_SIZE_BYTES_MAX;

/** JSON framing allowed per batch operation on top of its key and value (`{"op":...}`). */
export const HTTP_BATCH_OP_OVERHEAD_BYTES: number = 256;
/** Most operations in one `POST /v1/batch`: bounds the JSON parsed for one request. */
export const HTTP_BATCH_OPS_MAX: number = 10_000;

/**
 * Largest body of `POST /v1/batch`: a largest engine batch with every key and value in base64
 * (4 bytes per 3), plus framing for the most operations. Values that need many JSON escapes
 * can reach this before the engine's limit; send them in base64.
 */
export const HTTP_BATCH_BODY_BYTES_MAX: number = Math.ceil(BATCH_SIZE_BYTES_MAX / 3) * 4 +
  HTTP_BATCH_OPS_MAX * HTTP_BATCH_OP_OVERHEAD_BYTES;

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
 * fully percent-encoded (3 characters per byte) plus 4 KiB of query; the whole head is bounded
 * by `HTTP_HEAD_BYTES_MAX`.
 */
export const HTTP_URL_LENGTH_MAX: number = 3 * KEY_SIZE_BYTES_MAX + 4 * KiB;

/** Longest `Authorization` header value looked at; longer is refused without hashing. */
export const HTTP_AUTH_HEADER_LENGTH_MAX: number = 4 * KiB;

/**
 * Longest request head (request line + header lines + the blank line). A longer request line is a
 * 414, longer headers a 431. Room for one largest URL plus ordinary headers.
 */
export const HTTP_HEAD_BYTES_MAX: number = 64 * KiB;

/** Most header lines in one request head (or trailer); more is a 431. Clients send ~10. */
export const HTTP_HEADERS_MAX: number = 100;

/** Longest chunk-size line of a chunked body (hex size plus extensions); longer is a 400. */
export const HTTP_CHUNK_LINE_BYTES_MAX: number = 4 * KiB;

/** Bytes read from a socket per body read: bounds one chunk handed to a handler or parser. */
export const HTTP_READ_CHUNK_BYTES: number = 64 * KiB;

/**
 * Request body bytes all HTTP requests together may hold at once (the global body budget): a
 * request's peak memory is a small multiple of its body, so N concurrent uploads must not each
 * get the full per-request limit. Room for one largest batch body plus small requests.
 */
export const HTTP_BODY_BUDGET_BYTES_DEFAULT: number = 96 * MiB;

/** How long a request waits for body budget before it gets 503 with `Retry-After`. */
export const HTTP_BODY_BUDGET_WAIT_MS: number = 500;

/** Seconds a 503 for a full body budget or connection table asks the client to wait. */
export const HTTP_RETRY_AFTER_S: number = 1;

/**
 * Time from accepting a connection (or from the first byte of a later request) to the end of
 * the request head; absolute, so a trickle of bytes cannot extend it (slowloris).
 */
export const HTTP_HEADER_TIMEOUT_MS_DEFAULT: number = 10_000;

/** Time from the end of the head to the end of the body; absolute (a largest batch at ~1.5 MB/s). */
export const HTTP_BODY_TIMEOUT_MS_DEFAULT: number = 60_000;

/** Time a keep-alive connection may wait for its next request before it is closed. */
export const HTTP_IDLE_TIMEOUT_MS_DEFAULT: number = 30_000;

/** Base time to write one response; a client that does not read is closed after it. */
export const HTTP_WRITE_TIMEOUT_MS_DEFAULT: number = 30_000;

/** Slowest reader allowed: every byte of a response adds 1 / this many seconds to its deadline. */
export const HTTP_WRITE_RATE_BYTES_PER_S_MIN: number = 1 * MiB;

/** Default most open HTTP connections; past it a new one gets 503 and is closed. */
export const HTTP_CONNECTIONS_MAX_DEFAULT: number = 1024;

/** Largest accepted `connectionsMax`: each connection holds a file descriptor and buffers. */
export const HTTP_CONNECTIONS_MAX_LIMIT: number = 100_000;

/**
 * How long a connection closed after an error keeps reading and discarding what the client
 * still sends, so its unread bytes do not turn the close into a reset that destroys the answer.
 */
export const HTTP_LINGER_MS: number = 1000;

/** Deepest nesting of any JSON body (a batch needs 3); deeper is a 400 before it is built. */
export const HTTP_JSON_DEPTH_MAX: number = 8;

/**
 * Longest JSON string in a key/value body (batch, `POST /keys`), in bytes after escapes: a
 * largest value in base64. A longer one cannot be a valid key or value, so it is refused as soon
 * as it passes this, without buffering the rest.
 */
export const HTTP_JSON_STRING_BYTES_MAX: number = Math.ceil(VALUE_SIZE_BYTES_MAX / 3) * 4;

/** Most JSON values (scalars and containers) in one body: bounds the objects a body builds. */
export const HTTP_JSON_VALUES_MAX: number = 10 * HTTP_BATCH_OPS_MAX;

assert(HTTP_LIST_LIMIT_DEFAULT <= HTTP_LIST_LIMIT_MAX, "list default <= max");
assert(HTTP_VALUE_BODY_BYTES_MAX <= HTTP_BATCH_BODY_BYTES_MAX, "a value fits a batch body");
assert(
  HTTP_LIST_RESPONSE_BYTES_MAX >= KEY_SIZE_BYTES_MAX + VALUE_SIZE_BYTES_MAX,
  "one largest item fits a list page",
);
assert(HTTP_URL_LENGTH_MAX + 4 * KiB <= HTTP_HEAD_BYTES_MAX, "a longest URL fits a head");
assert(
  HTTP_BATCH_BODY_BYTES_MAX <= HTTP_BODY_BUDGET_BYTES_DEFAULT,
  "a largest batch fits the budget",
);
assert(
  HTTP_JSON_PUT_BODY_BYTES_MAX <= HTTP_BODY_BUDGET_BYTES_DEFAULT,
  "a JSON put fits the budget",
);
assert(HTTP_BATCH_OPS_MAX * 6 + 2 <= HTTP_JSON_VALUES_MAX, "a largest batch fits the value count");
assert(HTTP_BATCH_OPS_MAX <= BATCH_OPS_MAX, "an HTTP batch is one engine batch");

// ---------------------------------------------------------------- Replication (CityHall Sync)

/** Bytes of a frame header: type u8, flags u8, reserved u16, body length u32, crc u32. */
export const FRAME_HEADER_BYTES: number = 12;
/** Bytes of a DATA body before its records: 4 × u64 + u32. */
export const DATA_HEADER_BYTES: number = 36;
/** Largest uncompressed frame body: one largest WAL record must fit one DATA frame. */
export const FRAME_BODY_BYTES_MAX: number = DATA_HEADER_BYTES + WAL_RECORD_HEADER_BYTES +
  WAL_RECORD_PAYLOAD_BYTES_MAX;
/** Largest body on the wire: Snappy's worst case (n + n/6 + 32) of the largest body. */
export const FRAME_WIRE_BODY_BYTES_MAX: number = FRAME_BODY_BYTES_MAX +
  Math.ceil(FRAME_BODY_BYTES_MAX / 6) +
  32;
/** Largest control frame (HELLO, WELCOME, ERROR...): the segment list is the big one. */
export const CONTROL_BODY_BYTES_MAX: number = 1 * MiB;
/** Largest auth token: tokens are secrets typed or generated, never megabytes. */
export const AUTH_TOKEN_BYTES_MAX: number = 4 * KiB;
/** Segments listed in WELCOME: 32 bytes each must fit a control frame. */
export const WELCOME_SEGMENTS_MAX: number = 16 * KiB;
/** HELLO before its token: magic, version, ids, nextSeq, token length (a new field grows it). */
export const HELLO_FIXED_BYTES: number = 54;
/** Largest HELLO body: the only frame a leader reads before authentication, so it is small. */
export const HELLO_BODY_BYTES_MAX: number = HELLO_FIXED_BYTES + AUTH_TOKEN_BYTES_MAX;
/** WELCOME before its segment list: leader id, durableSeq, firstSeq, heartbeat, idle, count. */
export const WELCOME_FIXED_BYTES: number = 44;
/** Largest WELCOME body: the fixed part and the longest segment list. */
export const WELCOME_BODY_BYTES_MAX: number = WELCOME_FIXED_BYTES + 32 * WELCOME_SEGMENTS_MAX;
/** Longest ERROR message in UTF-8 bytes: it is a log line, not a document. */
export const ERROR_MESSAGE_BYTES_MAX: number = 1 * KiB;
/** Largest ERROR body: code u16 and the message. */
export const ERROR_BODY_BYTES_MAX: number = 2 + ERROR_MESSAGE_BYTES_MAX;

/** Default bytes of records a replica asks for per FETCH (flow control). */
export const FETCH_BYTES_DEFAULT: number = 1 * MiB;
/** Largest `maxBytes` a leader honours; bigger requests are cut to it. */
export const FETCH_BYTES_MAX: number = 64 * MiB;
/** How long a leader holds a FETCH with nothing new before it answers an empty DATA. */
export const FETCH_WAIT_MS_DEFAULT: number = 1000;
/** Interval of heartbeats from an idle end. */
export const HEARTBEAT_MS_DEFAULT: number = 1000;
/** Silence after which either end drops the link. */
export const REPLICATION_IDLE_TIMEOUT_MS_DEFAULT: number = 10_000;
/**
 * Time from accept within which a new connection must complete HELLO; absolute, so a peer
 * that trickles one byte at a time cannot hold the slot longer.
 */
export const HANDSHAKE_TIMEOUT_MS: number = 10_000;

/**
 * A replica's or an edge's connect attempt to its leader or hub fails after this long: the
 * operating system's own limit is about two minutes, and a route that drops packets answers
 * nothing at all, while the link should go on retrying (with backoff) or close at once.
 */
export const CONNECT_TIMEOUT_MS: number = 10_000;
/**
 * Replication connections still in the handshake (not authenticated); a new one past this
 * closes the oldest, so slow or silent peers cannot starve real replicas nor hold memory.
 */
export const REPLICATION_HANDSHAKES_MAX: number = 8;
/** Authenticated replication sessions at once (a replica id has at most one). */
export const REPLICATION_SESSIONS_MAX: number = 64;
/**
 * Time a replica that has not acknowledged any data yet may hold a pin on the leader's WAL
 * while it is behind: past it without an ACK of data it was sent, the session is closed and
 * its pin released (a real replica acknowledges its first DATA within one fdatasync).
 */
export const REPLICA_VERIFY_TIMEOUT_MS: number = 60_000;
/**
 * A replica listed in `replicas.json` that has never acknowledged data it was sent (written
 * by an older leader) is dropped from the list when it does not do so within this time.
 */
export const REPLICA_UNVERIFIED_EXPIRY_MS: number = 24 * 60 * 60 * 1000;
/**
 * Default of `--replication-retention-max-bytes`: WAL kept only for replicas that have not
 * acknowledged it. A replica further behind bootstraps from a snapshot; an edge box's disk is
 * not given over to a replica that may never return.
 */
export const REPLICATION_RETENTION_BYTES_MAX_DEFAULT: number = 1024 * MiB;

/** First reconnect delay (ms); each failure doubles the ceiling. */
export const BACKOFF_BASE_MS_DEFAULT: number = 1000;
/** Longest reconnect delay (ms). */
export const BACKOFF_MAX_MS_DEFAULT: number = 60_000;
/** Least time between two status file writes while a replica applies a stream. */
export const STATUS_WRITE_INTERVAL_MS: number = 500;
/** Delay of the status write once a replica is caught up (debounces bursts of small writes). */
export const STATUS_DEBOUNCE_MS: number = 50;
/** Most durable-seq samples kept to compute lag in seconds. */
export const LAG_SAMPLES_MAX: number = 4096;
/** Replicas a leader tracks; a new one past this is refused (each pins WAL). */
export const REPLICAS_MAX: number = 256;
/** Default replication port of `cityhall leader`. */
export const REPLICATION_PORT_DEFAULT: number = 7879;

assert(FETCH_BYTES_DEFAULT <= FETCH_BYTES_MAX, "fetch default > max");
assert(WELCOME_BODY_BYTES_MAX <= CONTROL_BODY_BYTES_MAX, "segment list fits WELCOME");
assert(HELLO_BODY_BYTES_MAX <= CONTROL_BODY_BYTES_MAX, "HELLO is a control frame");
assert(REPLICATION_SESSIONS_MAX <= REPLICAS_MAX, "every session can be a known replica");
assert(
  FETCH_WAIT_MS_DEFAULT < REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  "long-poll shorter than idle timeout",
);
assert(
  HEARTBEAT_MS_DEFAULT < REPLICATION_IDLE_TIMEOUT_MS_DEFAULT,
  "heartbeat shorter than idle timeout",
);

// ---------------------------------------------------------------- PromQL, Prometheus API, ingest

/** Prometheus's lookback: an instant selector sees the newest sample at most this old. */
export const PROMQL_LOOKBACK_MS_DEFAULT: number = 5 * 60_000;
/** Step of a subquery written without one (`x[1h:]`): Prometheus's default evaluation interval. */
export const PROMQL_SUBQUERY_STEP_MS_DEFAULT: number = 60_000;
/** Most points per series one range query may return (Prometheus's 11,000-point limit). */
export const PROMQL_QUERY_POINTS_MAX: number = 11_000;
/**
 * Most samples one query may hold in memory at once (Prometheus's `query.max-samples` is 50
 * million; a JavaScript sample costs more and edge boxes have less memory).
 */
export const PROMQL_QUERY_SAMPLES_MAX: number = 10_000_000;
/** Most series one selector may select: beyond this a query is refused, not slowed to a crawl. */
export const PROMQL_SELECT_SERIES_MAX: number = 100_000;
/**
 * Longest a query may run. Evaluation is synchronous on the event loop, so this is shorter than
 * Prometheus's 2 minutes: every other client waits while a query runs.
 */
export const PROMQL_QUERY_TIMEOUT_MS_MAX: number = 30_000;
/** Longest query text: Grafana dashboards send long queries, never megabytes. */
export const PROMQL_QUERY_BYTES_MAX: number = 256 * KiB;
/** Deepest expression nesting: the parser and evaluator recurse once per level. */
export const PROMQL_NESTING_DEPTH_MAX: number = 200;
/** Longest regular expression in a matcher: JavaScript's engine backtracks, RE2's does not. */
export const PROMQL_REGEX_BYTES_MAX: number = 4 * KiB;
/** Largest form body of `POST /api/v1/query...` (a query plus a few parameters). */
export const PROM_API_FORM_BODY_BYTES_MAX: number = 1 * MiB;
/** Smallest query API answer worth gzip-compressing (smaller ones are sent as they are). */
export const PROM_API_GZIP_BYTES_MIN: number = 1 * KiB;
/** Most `match[]` selectors in one `/api/v1/series`, `/labels` or `/label/.../values` call. */
export const PROM_API_MATCH_SELECTORS_MAX: number = 1_000;

/** Longest Influx line protocol line (Telegraf's lines are well under 64 KiB). */
export const INFLUX_LINE_BYTES_MAX: number = 64 * KiB;
/** Largest Influx write body after gzip decoding (Telegraf's default batch is 5,000 lines). */
export const INFLUX_BODY_BYTES_MAX: number = 32 * MiB;
/** Most tags plus numeric fields one line may carry (each field becomes a series). */
export const INFLUX_LINE_ITEMS_MAX: number = 1_000;
/** Most labels one series may carry, `__name__` included (Prometheus has no limit by default). */
export const SERIES_LABELS_MAX: number = 64;
/** Longest label name or value in bytes (UTF-16 code units) accepted by ingest. */
export const SERIES_LABEL_BYTES_MAX: number = 16 * KiB;
/** Largest Snappy-compressed remote-write body (Prometheus sends at most ~2,000 samples). */
export const REMOTE_WRITE_BODY_BYTES_MAX: number = 16 * MiB;
/** Largest decompressed remote-write protobuf: Snappy expands at most ~6×. */
export const REMOTE_WRITE_DECODED_BYTES_MAX: number = 64 * MiB;
/** Most samples in one remote-write request. */
export const REMOTE_WRITE_SAMPLES_MAX: number = 1_000_000;

assert(
  PROMQL_SUBQUERY_STEP_MS_DEFAULT > 0 && PROMQL_LOOKBACK_MS_DEFAULT > 0,
  "positive lookback and step",
);
assert(INFLUX_LINE_BYTES_MAX <= INFLUX_BODY_BYTES_MAX, "a line fits a body");
assert(
  REMOTE_WRITE_BODY_BYTES_MAX <= REMOTE_WRITE_DECODED_BYTES_MAX,
  "compressed limit <= decoded",
);
assert(SERIES_LABEL_BYTES_MAX <= KEY_SIZE_BYTES_MAX, "a label fits a key");
/**
 * Samples of one ingest request written as one atomic engine batch: bounds the batch (and the
 * memory its log entries take) for a 1,000,000-sample remote-write request.
 */
export const INGEST_BATCH_SAMPLES_MAX: number = 100_000;
/** Samples per request of `serve --remote-write` (Prometheus sends up to 2,000 by default). */
export const REMOTE_WRITE_EXPORT_SAMPLES_PER_SEND: number = 5_000;
/** Pause between export rounds once caught up: how stale the receiver's copy may get. */
export const REMOTE_WRITE_EXPORT_INTERVAL_MS: number = 1_000;
/** First retry delay ceiling after a failed request (doubles per failure, full jitter). */
export const REMOTE_WRITE_EXPORT_BACKOFF_BASE_MS: number = 500;
/** Longest retry delay: a receiver back after an outage is used within this long. */
export const REMOTE_WRITE_EXPORT_BACKOFF_MAX_MS: number = 30_000;
/** Longest `Retry-After` honoured: a receiver cannot park the exporter for hours. */
export const REMOTE_WRITE_EXPORT_RETRY_AFTER_MS_MAX: number = 5 * 60_000;
/** Longest one export request may take before it counts as failed (and is retried). */
export const REMOTE_WRITE_EXPORT_TIMEOUT_MS: number = 30_000;
/** Largest gzip-compressed Influx write body (before decoding; `INFLUX_BODY_BYTES_MAX` after). */
export const INFLUX_GZIP_BODY_BYTES_MAX: number = 8 * MiB;
/** Most bytes of an Influx `POST /query` body (Telegraf sends one `CREATE DATABASE`). */
export const INFLUX_QUERY_BODY_BYTES_MAX: number = 64 * KiB;
// ---------------------------------------------------------------- Time series

/** Series one server holds: each keeps its labels, index entries and head chunk in memory. */
export const TS_SERIES_MAX: number = 100_000;
/** Labels per series: the index and every WITHLABELS reply carry them. */
export const TS_LABELS_MAX: number = 128;
/** Bytes of one label name or value. */
export const TS_LABEL_BYTES_MAX: number = 1 * KiB;
/** Bytes of a series key: keys are repeated in every multi-series reply and the registry. */
export const TS_KEY_BYTES_MAX: number = 4 * KiB;
/** Samples one write takes (TS.MADD, an HTTP batch): one WAL batch, one reply. */
export const TS_SAMPLES_PER_WRITE_MAX: number = 10_000;
/** Rules feeding from one series: each runs on every new sample. */
export const TS_RULES_MAX: number = 32;
/** Longest chain of rules (a rollup of a rollup ...): a sample may cascade this deep. */
export const TS_RULE_CHAIN_DEPTH_MAX: number = 8;
/** Default CHUNK_SIZE (RedisTimeSeries's default): also the samples per sealed chunk. */
export const TS_CHUNK_SIZE_BYTES_DEFAULT: number = 4096;
/** Smallest CHUNK_SIZE (RedisTimeSeries 1.8.1+). */
export const TS_CHUNK_SIZE_BYTES_MIN: number = 48;
/** Largest CHUNK_SIZE (RedisTimeSeries). */
export const TS_CHUNK_SIZE_BYTES_MAX: number = 1 * MiB;
/** Most samples a head holds before it is sealed, whatever CHUNK_SIZE says: bounds head memory. */
export const TS_CHUNK_SAMPLES_MAX: number = 16_384;
/** Timestamps in one FILTER_BY_TS (RedisTimeSeries's MAX_TS_VALUES_FILTER). */
export const TS_FILTER_BY_TS_MAX: number = 128;
/** Labels in one SELECTED_LABELS (RedisTimeSeries's LIMIT_LABELS_SIZE). */
export const TS_SELECTED_LABELS_MAX: number = 50;
/** Bytes of one `=~`/`!~` regular expression. */
export const TS_FILTER_REGEX_BYTES_MAX: number = 1 * KiB;
/**
 * Samples one query may read before aggregation, all its series together (TS.MRANGE, GROUPBY):
 * they are in memory at once.
 */
export const TS_QUERY_SAMPLES_MAX: number = 50_000_000;
/**
 * Buckets one aggregated range may answer: EMPTY makes one per step, data or not, so a tiny
 * bucket over a long gap would otherwise fill memory (10M buckets ~ 300 MB of reply).
 */
export const TS_QUERY_BUCKETS_MAX: number = 10_000_000;
/**
 * Samples one RESTORE of a time series may hold: a 16 MiB payload of RedisTimeSeries's
 * compressed chunks could claim 64M (2 bits each), 1 GiB of decoded arrays; 2M is 32 MiB.
 */
export const TS_RESTORE_SAMPLES_MAX: number = 2_097_152;
/** Decoded sealed chunks kept for reads (16 bytes per sample). */
export const TS_CHUNK_CACHE_BYTES_DEFAULT: number = 32 * MiB;
/**
 * Decoded head chunks kept for reads (16 bytes per sample): 8 MiB holds the heads of ~100
 * series of 4,000 samples (a dashboard's last hour at 1 Hz), a fraction of a server's budget.
 */
export const TS_HEAD_CACHE_BYTES_DEFAULT: number = 8 * MiB;
/**
 * Samples of the GROUPBY merge buffers kept between queries (four arrays: 8 MiB); a larger
 * group merges in arrays of its own, dropped after the query.
 */
export const TS_GROUPBY_MERGE_SAMPLES_KEPT_MAX: number = 262_144;
/**
 * Samples of the reused GROUPBY result buffers (two arrays: 8 MiB), which the RESP front end
 * encodes before its next command: 100 series x 1 h at 1 Hz is ~360,000; a larger query's
 * remaining groups get arrays of their own.
 */
export const TS_GROUPBY_RESULT_SAMPLES_KEPT_MAX: number = 524_288;
/**
 * Bytes all head chunks may take together (their buffers): past it, maintenance seals the
 * largest heads (down to 3/4 of it) before CHUNK_SIZE is reached, trading a little compression
 * for bounded memory (10,000 series at 1 Hz stay within it).
 */
export const TS_HEADS_BYTES_MAX: number = 16 * MiB;
/** Samples a head needs before memory pressure may seal it (smaller chunks compress badly). */
export const TS_HEAD_SEAL_SAMPLES_MIN: number = 120;
/** Period of the time-series maintenance (checkpoints, retention, garbage collection). */
export const TS_MAINTENANCE_INTERVAL_MS: number = 5_000;
/**
 * WAL bytes (the newest, active segment included) that un-checkpointed heads may need before
 * they are checkpointed: bounds the log replayed at open (~1.5 million samples, ~1 s).
 */
export const TS_WAL_PINNED_BYTES_MAX: number = 16 * MiB;
/** Age of the oldest un-checkpointed change of a head after which it is checkpointed anyway. */
export const TS_CHECKPOINT_AGE_MS: number = 15 * 60_000;
/** Largest `POST /v1/series/{key}/samples` body: 10,000 samples of JSON with room to spare. */
export const HTTP_SERIES_BODY_BYTES_MAX: number = 4 * MiB;
/** Bytes of log ops in one WAL op: larger writes are split. */
export const TS_LOG_OP_BYTES_MAX: number = 1 * MiB;

assert(TS_CHUNK_SIZE_BYTES_MIN <= TS_CHUNK_SIZE_BYTES_DEFAULT, "default chunk size in range");
assert(TS_LOG_OP_BYTES_MAX <= VALUE_SIZE_BYTES_MAX, "a log op is a value");
assert(TS_KEY_BYTES_MAX <= KEY_SIZE_BYTES_MAX, "a series key is a key");

// ---------------------------------------------------------------- Fleets (hub and uplink)

/** Longest site name: it prefixes every key the site sends (`site/key`) and names its status. */
export const SITE_NAME_BYTES_MAX: number = 64;
/** Most sites a hub registers: each has a token, a position and a status line. */
export const HUB_SITES_MAX: number = 4_096;
/** Random bytes of a site token (printed once as 43 base64url characters). */
export const SITE_TOKEN_BYTES: number = 32;
/** Default port of a hub's sync listener (`cityhall hub --sync-port`). */
export const HUB_SYNC_PORT_DEFAULT: number = 7881;
/** UPLINK_HELLO before its site name and token (a new field grows it). */
export const UPLINK_HELLO_FIXED_BYTES: number = 66;
/** Largest UPLINK_HELLO: the only frame a hub reads before authentication, so it is small. */
export const UPLINK_HELLO_BODY_BYTES_MAX: number = UPLINK_HELLO_FIXED_BYTES + SITE_NAME_BYTES_MAX +
  AUTH_TOKEN_BYTES_MAX;
/** Bytes of an UPLINK_WELCOME body. */
export const UPLINK_WELCOME_BYTES: number = 32;
/** Bytes of a RECORDS body before its records: 5 × u64 + u32. */
export const RECORDS_HEADER_BYTES: number = 44;
/**
 * Connections to a hub's sync port still in the handshake; a new one past this closes the
 * oldest. Larger than replication's 8: a whole fleet reconnects at once after a hub restart.
 */
export const HUB_HANDSHAKES_MAX: number = 64;
/** Uplink sessions a hub holds at once (one per site): each holds buffers and a staging dir. */
export const HUB_SESSIONS_MAX: number = 1_024;
/** Record bytes a hub asks for per FETCH (the edge may send fewer, see the frame target). */
export const UPLINK_FETCH_BYTES_DEFAULT: number = 1 * MiB;
/** FETCHes a hub keeps outstanding on one uplink, so a long round trip does not idle the link. */
export const UPLINK_FETCHES_IN_FLIGHT: number = 2;
/** zstd level of RECORDS and FILE_CHUNK frames (level 3 is zstd's default speed/ratio point). */
export const UPLINK_ZSTD_LEVEL: number = 3;
/** Highest level a rate-limited edge climbs to (19: beyond it zstd needs far more memory). */
export const UPLINK_ZSTD_LEVEL_MAX: number = 19;
/** Longest an edge compresses one frame: zstd holds the event loop the edge's clients need. */
export const UPLINK_COMPRESS_MS_MAX: number = 50;
/**
 * Time one frame should take on a rate-limited link: a cut costs at most about this much link
 * time even without RESUME, and heartbeats are not stuck behind minutes of data.
 */
export const UPLINK_FRAME_TARGET_MS: number = 1_000;
/** Fewest record bytes an edge puts in a frame under a rate limit (header overhead). */
export const UPLINK_FRAME_BYTES_MIN: number = 4 * KiB;
/** Encoded frames an edge keeps for RESUME after a cut link, and their bytes. */
export const UPLINK_RESUME_FRAMES_MAX: number = 4;
/** Bytes of encoded frames an edge keeps for RESUME. */
export const UPLINK_RESUME_CACHE_BYTES_MAX: number = 16 * MiB;
/** A hub keeps a cut frame for RESUME only when it holds at least this much of it. */
export const HUB_PARTIAL_FRAME_BYTES_MIN: number = 4 * KiB;
/** Bytes of cut frames a hub keeps for RESUME across all sites (oldest dropped first). */
export const HUB_PARTIAL_FRAMES_BYTES_MAX: number = 64 * MiB;
/** Slowest `--uplink-rate-limit`: below this a heartbeat and a frame header take seconds. */
export const UPLINK_RATE_LIMIT_BYTES_MIN: number = 1 * KiB;
/** Most `--uplink-window` ranges. */
export const UPLINK_WINDOWS_MAX: number = 24;
/** (sequence, time) samples an edge persists to tell how far behind it is after a restart. */
export const UPLINK_TIME_SAMPLES_MAX: number = 512;
/** Least time between two persisted (sequence, time) samples. */
export const UPLINK_TIME_SAMPLE_INTERVAL_MS: number = 60_000;
/** How often an edge checks its disk for the `--disk-high-water` mark. */
export const DISK_CHECK_INTERVAL_MS: number = 1_000;
/** Default `--disk-high-water`: the share of the disk in use at which the policy acts. */
export const DISK_HIGH_WATER_PERCENT_DEFAULT: number = 90;
/** Points below the high-water mark at which a refusing edge accepts writes again. */
export const DISK_HYSTERESIS_PERCENT: number = 2;
/** Record bytes per RECORDS frame of a `.chsync` export file. */
export const EXPORT_FRAME_RECORD_BYTES: number = 1 * MiB;
/** Second byte of the internal keys holding each site's position at a hub (`ff 10 site`). */
export const SITE_POSITION_SPACE: number = 0x10;
/** Second byte of the internal keys mapping a site's series versions to keys (`ff 11 ...`). */
export const SITE_SERIES_SPACE: number = 0x11;
/** Second byte of the internal keys mapping a site's member-type versions to the hub's (`ff 12 ...`). */
export const SITE_MEMBER_VERSIONS_SPACE: number = 0x12;
/** Record bytes from which a frame is a backlog (CHUNKS), even when it is the last one. */
export const CATCHUP_FRAME_BYTES_MIN: number = 64 * KiB;
/** Most samples per series a catch-up frame carries as one chunk (a chunk's sample limit). */
export const CATCHUP_CHUNK_SAMPLES_MAX: number = 16_384;

assert(UPLINK_HELLO_BODY_BYTES_MAX <= CONTROL_BODY_BYTES_MAX, "UPLINK_HELLO is a control frame");
assert(UPLINK_FETCH_BYTES_DEFAULT <= FETCH_BYTES_MAX, "uplink fetch within FETCH_BYTES_MAX");
assert(
  RECORDS_HEADER_BYTES + 5 + WAL_RECORD_PAYLOAD_BYTES_MAX <= FRAME_BODY_BYTES_MAX,
  "one largest record fits one RECORDS frame",
);
assert(HUB_SESSIONS_MAX <= HUB_SITES_MAX, "every session can be a site");
// ---------------------------------------------------------------- Member types (hash, set, zset, list)

/** Period of the member types' garbage sweep (members of deleted keys; § "Member types"). */
export const TYPES_GC_INTERVAL_MS: number = 5_000;
/** Registry entries (one per key) one sweep round checks: a round stays a few milliseconds. */
export const TYPES_GC_KEYS_PER_ROUND: number = 2_000;
/** Members of a hash/set/zset/list `GET /v1/keys/{key}` returns (more: `truncated`). */
export const HTTP_TYPED_MEMBERS_MAX: number = 10_000;
/**
 * Clients blocked at once on BLPOP/BRPOP/BLMOVE/BLMPOP/BZPOPMIN/BZPOPMAX (each holds a timer
 * and its waiting entry; the connection cap bounds it too).
 */
export const TYPES_BLOCKED_CLIENTS_MAX: number = 10_000;
/**
 * Longest delay one timer waits (2^31 - 1 ms, ~24.8 days): `setTimeout` fires a longer one at
 * once, so a longer wait (a blocking timeout, a CLIENT PAUSE) re-arms its timer until due.
 */
export const TIMER_DELAY_MS_MAX: number = 2 ** 31 - 1;
/** Memory of the LRANGE range cache (encoded windows of lists read again with no write between). */
export const TYPES_LIST_CACHE_BYTES_MAX: number = 4 * MiB;
/** Largest window the LRANGE range cache keeps: a bigger range is read from the engine each time. */
export const TYPES_LIST_CACHE_WINDOW_BYTES_MAX: number = 64 * KiB;

assert(2 * TYPES_GC_KEYS_PER_ROUND <= BATCH_OPS_MAX, "a sweep round is one batch");
assert(TYPES_LIST_CACHE_WINDOW_BYTES_MAX <= TYPES_LIST_CACHE_BYTES_MAX, "a window fits the cache");
// ---------------------------------------------------------------- Process memory

/** How often a server checks how much freed memory the C heap holds (§ "Memory"). */
export const MEMORY_TRIM_CHECK_MS: number = 2_000;
/**
 * Growth of the C heap's free bytes since the last trim that triggers the next one: a trim
 * blocks for tens of milliseconds on a large heap, so it runs after this much, not every check.
 */
export const MEMORY_TRIM_GROWTH_BYTES: number = 16 * 1024 * 1024;
/** Least growth that triggers a trim, once checks without a trim halved the threshold. */
export const MEMORY_TRIM_GROWTH_BYTES_MIN: number = 1024 * 1024;
/**
 * RSS growth over the RSS at start after which the trimmer binds glibc through FFI: binding it
 * costs an idle server ~2 MiB of RSS (FFI's code pages), and until the server has grown this
 * much there is little to trim.
 */
export const MEMORY_TRIM_ARM_BYTES: number = 8 * 1024 * 1024;
