/**
 * What the offline readers report: one `Finding` per damaged or inconsistent part of a file,
 * with the file, the byte offset and size of the part, what the part is and why it failed.
 * ARCHITECTURE.md § "Verify and salvage" lists the parts and the line format.
 *
 * @module
 */

import { fromBytes } from "../util/bytes.ts";
import { type Entry, KIND_PUT } from "../util/entry.ts";
import type { LogFields } from "../util/log.ts";

/**
 * `corrupt`: stored data failed a checksum or an invariant (verify exits 1; salvage skips the
 * part). `warning`: not damage, but worth knowing (a torn WAL tail that open cuts, a table no
 * manifest lists, a damaged copy that still has a good twin).
 */
export type Severity = "corrupt" | "warning";

/** The kinds of parts a finding names. */
export type PartKind =
  | "data block"
  | "index block"
  | "filter block"
  | "properties block"
  | "footer"
  | "region"
  | "table"
  | "WAL segment header"
  | "WAL record"
  | "WAL segment"
  | "manifest"
  | "database"
  | "time-series chunk";

/** One damaged or inconsistent part of a file. */
export interface Finding {
  /** How bad it is. */
  severity: Severity;
  /** Path of the file. */
  file: string;
  /** Byte offset of the part in the file. */
  offset: number;
  /** Bytes the part spans (block without trailer, record with header); 0 when unknown. */
  sizeBytes: number;
  /** What the part is. */
  part: PartKind;
  /** Why it failed, as an error message. */
  reason: string;
  /**
   * For a lost data block, the keys it may have held, from the index: above `after` (the
   * previous block's separator; none for the first block) and up to `through` inclusive.
   */
  keyRange?: { after?: Uint8Array; through: Uint8Array };
  /** For a damaged value (a time-series chunk), the key it is stored at. */
  key?: Uint8Array;
}

/**
 * A check of stored values that a higher layer knows how to decode (time-series chunks):
 * `verify` runs it on every live value whose key it `applies` to, in tables and WAL records.
 */
export interface ValueCheck {
  /** What such a value is, for findings. */
  part: PartKind;
  /** True when the check applies to a value at `key` (cheap: called for every entry). */
  applies(key: Uint8Array): boolean;
  /** Why the value at `key` is damaged (an error message), or undefined when it checks. */
  check(key: Uint8Array, value: Uint8Array): string | undefined;
}

/**
 * Runs `checks` on one entry of `path` at `at` (`where` names the block or record, e.g. "data
 * block"), adding a corrupt finding with the entry's key to `out` for each damaged value.
 */
export function checkValues(
  checks: readonly ValueCheck[],
  e: Entry,
  path: string,
  at: { offset: number; sizeBytes: number },
  where: string,
  out: Finding[],
): void {
  if (e.kind !== KIND_PUT) return;
  for (const c of checks) {
    if (!c.applies(e.key)) continue;
    const reason = c.check(e.key, e.value);
    if (reason === undefined) continue;
    const f = finding(
      "corrupt",
      path,
      c.part,
      at,
      `${reason} (${where} at offset ${at.offset} in ${path})`,
    );
    f.key = e.key.slice();
    out.push(f);
  }
}

/** Creates a finding. */
export function finding(
  severity: Severity,
  file: string,
  part: PartKind,
  at: { offset: number; sizeBytes: number },
  reason: string,
): Finding {
  return { severity, file, offset: at.offset, sizeBytes: at.sizeBytes, part, reason };
}

/** A key for a report line: UTF-8 text when printable, else `0x` + hex. */
export function printableKey(key: Uint8Array): string {
  const text = fromBytes(key);
  // deno-lint-ignore no-control-regex
  if (!text.includes("\ufffd") && !/[\x00-\x1f\x7f]/.test(text)) return text;
  return "0x" + Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The fields of a finding as a log line's fields. */
export function findingFields(f: Finding): LogFields {
  const fields: LogFields = {
    file: f.file,
    offset: f.offset,
    size: f.sizeBytes,
    part: f.part,
    reason: f.reason,
  };
  if (f.keyRange) {
    if (f.keyRange.after) fields.keys_after = printableKey(f.keyRange.after);
    fields.keys_through = printableKey(f.keyRange.through);
  }
  if (f.key) fields.key = printableKey(f.key);
  return fields;
}
