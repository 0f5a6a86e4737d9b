/**
 * The time-series chunk check `cityhall verify` hands to `src/verify/` (which sits below the
 * time-series layer and cannot decode chunks itself): every sealed chunk (`ff 03 version
 * firstTs`, ARCHITECTURE.md § "Chunk format") in a table or a WAL record is decoded whole —
 * its CRC, its modes, timestamps strictly ascending, as many samples as its header counts, the
 * header's first and last timestamps equal to the decoded ones. ARCHITECTURE.md § "Verify and
 * salvage".
 *
 * @module
 */

import { INTERNAL_KEY_PREFIX, internalKeyNumber, SPACE_TS_CHUNK } from "../keyspace/mod.ts";
import { chunkHeader, decodeChunk } from "../timeseries/codec.ts";
import type { ValueCheck } from "../verify/mod.ts";

/** Bytes of a chunk key: `ff 03`, version u64 BE, firstTs u64 BE. */
const CHUNK_KEY_BYTES = 18;

/** Why the chunk `value` at `key` is damaged, or undefined when it decodes and checks. */
function checkChunk(key: Uint8Array, value: Uint8Array): string | undefined {
  const version = internalKeyNumber(key, 2);
  const from = internalKeyNumber(key, 10);
  const where = `chunk of series version ${version} keyed at ${from}`;
  try {
    const header = chunkHeader(value);
    const { ts } = decodeChunk(value);
    if (ts.length !== header.count) {
      return `Cannot decode time-series chunk: its header counts ${header.count} samples, ${ts.length} decoded (${where})`;
    }
    for (let i = 1; i < ts.length; i++) {
      if (!(ts[i]! > ts[i - 1]!)) {
        return `Cannot decode time-series chunk: timestamp ${i} not above the one before (${where})`;
      }
    }
    if (ts[0] !== header.firstTs || ts[ts.length - 1] !== header.lastTs) {
      return `Cannot decode time-series chunk: header timestamps ${header.firstTs}..${header.lastTs} differ from the decoded ${
        ts[0]
      }..${ts[ts.length - 1]} (${where})`;
    }
    return undefined;
  } catch (err) {
    return `${err instanceof Error ? err.message : String(err)} (${where})`;
  }
}

/** The check of every sealed time-series chunk, for `verifyDirectory`'s `valueChecks`. */
export const SERIES_CHUNK_CHECK: ValueCheck = {
  part: "time-series chunk",
  applies: (key) =>
    key.length === CHUNK_KEY_BYTES && key[0] === INTERNAL_KEY_PREFIX && key[1] === SPACE_TS_CHUNK,
  check: checkChunk,
};
