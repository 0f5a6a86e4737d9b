/**
 * The replica's check of a DATA frame's records, whole, before the first is applied:
 * ARCHITECTURE.md § "DATA (type 5, leader → replica; 36-byte header + records)".
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { WAL_RECORD_HEADER_BYTES } from "../limits.ts";
import { batchOpCount, parseRecordAt } from "../wal/format.ts";
import type { Data } from "./frame.ts";

/**
 * Checks a DATA frame's records whole before any is applied: each parses with a good CRC, they
 * are contiguous, the first holds `expectedSeq`, and the counts and last sequence match the
 * header. Throws `ProtocolError`.
 */
export function checkRecords(
  data: Data,
  expectedSeq: number,
): { seq: number; payload: Uint8Array }[] {
  const fail = (reason: string): never => {
    throw new ProtocolError(`Cannot accept DATA frame: ${reason}`);
  };
  const out: { seq: number; payload: Uint8Array }[] = [];
  const buf = data.records;
  let at = 0;
  let next = 0;
  while (at < buf.length) {
    if (buf.length - at < WAL_RECORD_HEADER_BYTES) fail(`truncated record at offset ${at}`);
    const parsed = parseRecordAt(buf, at);
    if (parsed.status !== "record") {
      fail(`${parsed.status === "bad" ? parsed.reason : "zero bytes"} at record offset ${at}`);
    }
    const r = (parsed as { record: { seq: number; payload: Uint8Array; endOffset: number } })
      .record;
    if (out.length === 0) {
      if (r.seq > expectedSeq) fail(`first record ${r.seq} leaves a gap after ${expectedSeq - 1}`);
    } else if (r.seq !== next) {
      fail(`record ${r.seq} where ${next} was expected`);
    }
    let count = 0;
    try {
      count = batchOpCount(r.payload);
    } catch (err) {
      fail((err as Error).message);
    }
    next = r.seq + count;
    out.push({ seq: r.seq, payload: r.payload });
    at = r.endOffset;
  }
  if (out.length !== data.recordCount) {
    fail(`${out.length} records, header says ${data.recordCount}`);
  }
  if (out.length > 0) {
    if (out[0]!.seq !== data.firstSeq) fail("first sequence does not match the header");
    if (next - 1 !== data.lastSeq) fail("last sequence does not match the header");
  }
  return out;
}
