/**
 * Site namespaces at a hub (ARCHITECTURE.md § "Namespaces at the hub"): a key `k` written on
 * the edge of site `S` is stored at the hub as `S/k`; the hub's position for site `S` lives
 * in the internal key `ff 10 S`, written in the same atomic batch as the records it covers.
 * Keys the hub's own clients write stay outside every site's prefix (`hubWriteGuard`).
 *
 * Position value (25 bytes): `format u8 = 1 | edgeId 16 | seq u64 LE`. A position recorded
 * for another edge id (the site was reset for a re-initialised edge) counts as none.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { getU64, putU64 } from "../util/coding.ts";
import { KEY_SIZE_BYTES_MAX, SITE_NAME_BYTES_MAX, SITE_POSITION_SPACE } from "../limits.ts";
import type { WriteOp } from "../engine/mod.ts";
import { equalBytes, hasPrefix, toBytes } from "../util/bytes.ts";
import { decodeLog, ENTRY_DELETE, ENTRY_SAMPLES, TS_LOG_KEY } from "../timeseries/log.ts";

/** Site names: a letter or digit, then letters, digits, `_`, `.` or `-` (no `/`). */
const SITE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const utf8 = new TextEncoder();

/** Why `name` cannot be a site name, or undefined when it can. */
export function siteNameProblem(name: string): string | undefined {
  if (name.length === 0) return "a site name cannot be empty";
  if (utf8.encode(name).length > SITE_NAME_BYTES_MAX) {
    return `site name ${JSON.stringify(name)} is longer than ${SITE_NAME_BYTES_MAX} bytes`;
  }
  if (!SITE_NAME_PATTERN.test(name)) {
    return `invalid site name ${
      JSON.stringify(name)
    }: use letters, digits, "_", "." and "-", starting with a letter or digit`;
  }
  return undefined;
}

/** `S/`: the prefix of every key site `S` sends. */
export function sitePrefix(site: string): Uint8Array {
  return utf8.encode(`${site}/`);
}

/** The hub key of edge key `key` from the site whose prefix is `prefix`, or undefined. */
export function siteKey(prefix: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  // An edge key near the engine's limit cannot carry the prefix (see § "Namespaces").
  if (prefix.length + key.length > KEY_SIZE_BYTES_MAX) return undefined;
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix, 0);
  out.set(key, prefix.length);
  return out;
}

/** The internal key holding site `site`'s position: `ff 10 site`. */
export function positionKey(site: string): Uint8Array {
  const name = utf8.encode(site);
  const key = new Uint8Array(2 + name.length);
  key[0] = 0xff;
  key[1] = SITE_POSITION_SPACE;
  key.set(name, 2);
  return key;
}

/** A site's position at the hub: every op of edge `edgeId` up to `seq` is applied. */
export interface SitePosition {
  edgeId: Uint8Array;
  seq: number;
}

/** Bytes of an encoded position. */
export const POSITION_VALUE_BYTES = 25;

/** Encodes a position value. */
export function encodePosition(p: SitePosition): Uint8Array {
  const out = new Uint8Array(POSITION_VALUE_BYTES);
  out[0] = 1;
  out.set(p.edgeId, 1);
  putU64(new DataView(out.buffer), 17, p.seq);
  return out;
}

/** Decodes a position value; undefined when it is not one (never written by a hub). */
export function decodePosition(value: Uint8Array): SitePosition | undefined {
  if (value.length !== POSITION_VALUE_BYTES || value[0] !== 1) return undefined;
  try {
    return {
      edgeId: value.slice(1, 17),
      seq: getU64(new DataView(value.buffer, value.byteOffset, value.length), 17),
    };
  } catch {
    return undefined;
  }
}

/** The position for `edgeId`, or 0 when none is recorded for that edge. */
export function positionFor(stored: SitePosition | undefined, edgeId: Uint8Array): number {
  return stored !== undefined && equalBytes(stored.edgeId, edgeId) ? stored.seq : 0;
}

/**
 * The write guard of a hub's database: a put into a registered site's prefix is refused
 * unless the hub itself is applying that site's records (`allow` returns true then).
 */
export function hubWriteGuard(
  sites: () => Iterable<string>,
  allow: () => boolean,
  seriesKey: (version: number) => Uint8Array | undefined = () => undefined,
): (ops: readonly WriteOp[]) => void {
  return (ops) => {
    if (allow()) return;
    let prefixes: Uint8Array[] | undefined;
    const check = (key: Uint8Array) => {
      const slash = key.indexOf(0x2f);
      if (slash < 1) return;
      prefixes ??= [...sites()].map(sitePrefix);
      for (const p of prefixes) {
        if (p.length !== slash + 1 || !hasPrefix(key, p)) continue;
        const site = new TextDecoder().decode(p.subarray(0, p.length - 1));
        throw new InvalidArgumentError(
          `Key is in site ${site}'s namespace (${site}/…): only its uplink writes there`,
        );
      }
    };
    for (const op of ops) {
      if (op === null || typeof op !== "object") continue;
      let key: Uint8Array;
      try {
        key = toBytes(op.key);
      } catch {
        continue; // validation reports it
      }
      if (op.type === "put" || op.type === "meta") check(key);
      else if (op.type === "log" && equalBytes(key, TS_LOG_KEY)) {
        // Samples and deletes of a site's series (the hub's own sealing and checkpoints pass).
        let entries;
        try {
          entries = decodeLog(toBytes(op.value));
        } catch {
          continue;
        }
        for (const e of entries) {
          if (e.type !== ENTRY_SAMPLES && e.type !== ENTRY_DELETE) continue;
          const k = seriesKey(e.version);
          if (k !== undefined) check(k);
        }
      }
    }
  };
}

/** The hub's key guard (`src/server/key_guard.ts`): the refusal for a key in a site's prefix. */
export function siteKeyRefusal(
  sites: () => Iterable<string>,
): (key: Uint8Array) => string | undefined {
  return (key) => {
    const slash = key.indexOf(0x2f);
    if (slash < 1) return undefined;
    for (const site of sites()) {
      const p = sitePrefix(site);
      if (p.length === slash + 1 && hasPrefix(key, p)) {
        return `ERR Key is in site ${site}'s namespace (${site}/…): only its uplink writes there`;
      }
    }
    return undefined;
  };
}
