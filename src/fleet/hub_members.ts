/**
 * Hashes, sets, sorted sets and lists from a site, at the hub (ARCHITECTURE.md § "Member types
 * at the hub"). An edge keeps a member-type key as a `KIND_META` record (type, data version,
 * size) and one engine entry per member under `ff <space> <version u64 BE> …` (§ "Member
 * types"). Versions are numbered by each database, so the hub gives every edge version of a
 * site a version of its own and keeps the mapping `ff 12 len(S) S v_edge` → `v_hub`:
 *
 * | edge op                                  | at the hub                                        |
 * | ---------------------------------------- | ------------------------------------------------- |
 * | put `ff 20 v` = k (registry), v unmapped | allocate `v'`; mapping; registry `ff 20 v'` = S/k |
 * | put `ff 20 v` = k, v mapped (RENAME)     | registry `ff 20 v'` = S/k                         |
 * | delete `ff 20 v` (edge garbage sweep)    | delete the mapping and `ff 20 v'`                 |
 * | `KIND_META` at k of version v            | `KIND_META` at S/k of version `v'` (same expiry)  |
 * | put/delete `ff 21…25 v rest`             | put/delete `ff 21…25 v' rest`                     |
 * | `ff 00 "v"` (the edge's version counter) | nothing (the hub has its own)                     |
 *
 * A delete, expiry or overwrite of `k` at the edge reaches `S/k` as any key's does; `S/k` then
 * no longer holds `v'` and the hub's own garbage sweep (`src/types/gc.ts`) frees its members, as
 * the edge's sweep frees the edge's. Every op this module returns goes into the site's batch,
 * so the mapping, the hub registry and the members are written atomically with the position:
 * a record re-applied after a crash finds the mapping and writes the same keys again.
 *
 * @module
 */

import type { Database, WriteOp } from "../engine/mod.ts";
import {
  decodeMetaHeader,
  encodeMetaHeader,
  INTERNAL_KEY_PREFIX,
  SPACE_TYPES_DEAD,
  SPACE_TYPES_REGISTRY,
  TYPE_HASH,
  TYPE_LIST,
  TYPE_SET,
  TYPE_ZSET,
  type VersionAllocator,
} from "../keyspace/mod.ts";
import { SITE_MEMBER_VERSIONS_SPACE } from "../limits.ts";
import { deadMarkerKey } from "../types/gc.ts";
import { ByteReader, ByteWriter } from "../util/buffers.ts";
import { type Entry, KIND_META, KIND_PUT } from "../util/entry.ts";
import { siteKey } from "./namespace.ts";

const utf8 = new TextEncoder();

const MEMBER_TYPES = new Set([TYPE_HASH, TYPE_SET, TYPE_ZSET, TYPE_LIST]);

/** True when the edge entry belongs to a member type: its metadata, registry or members. */
export function isMemberEntry(e: Entry): boolean {
  if (e.kind === KIND_META) return e.value.length > 0 && MEMBER_TYPES.has(e.value[0]!);
  return e.key.length >= 10 && e.key[0] === INTERNAL_KEY_PREFIX &&
    e.key[1]! >= SPACE_TYPES_REGISTRY && e.key[1]! <= SPACE_TYPES_DEAD;
}

/** `ff 12 len site`: the prefix of site `site`'s edge version → hub version mapping. */
export function memberMapPrefix(site: string): Uint8Array {
  const name = utf8.encode(site);
  const key = new Uint8Array(3 + name.length);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = SITE_MEMBER_VERSIONS_SPACE;
  key[2] = name.length;
  key.set(name, 3);
  return key;
}

function u64(buf: Uint8Array, offset: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return view.getUint32(offset) * 0x1_0000_0000 + view.getUint32(offset + 4);
}

function putU64(buf: Uint8Array, offset: number, n: number): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(offset, Math.floor(n / 0x1_0000_0000));
  view.setUint32(offset + 4, n >>> 0);
}

/** What the translation did (the hub logs the counts of an apply that dropped something). */
export interface MemberCounts {
  /** Ops written at the hub. */
  applied: number;
  /** Member puts of an edge version the hub never saw created (nothing to attach them to). */
  orphaned: number;
}

/** Translates one site's member-type ops into hub ops. */
export class SiteMembers {
  readonly #db: Database;
  readonly #versions: VersionAllocator;
  readonly #prefix: Uint8Array;
  readonly #mapPrefix: Uint8Array;
  /** Mapping changes in ops not yet written (`null`: deleted). */
  readonly #pending = new Map<number, number | null>();
  readonly counts: MemberCounts = { applied: 0, orphaned: 0 };

  constructor(db: Database, versions: VersionAllocator, site: string, sitePrefix: Uint8Array) {
    this.#db = db;
    this.#versions = versions;
    this.#prefix = sitePrefix;
    this.#mapPrefix = memberMapPrefix(site);
  }

  /** The mapping's prefix (deleted with the site's keys before a snapshot). */
  get mapPrefix(): Uint8Array {
    return this.#mapPrefix;
  }

  /** Call when every op returned so far has been handed to `Database.write` (now visible). */
  settle(): void {
    this.#pending.clear();
  }

  /**
   * The hub ops for one edge entry for which `isMemberEntry` holds. In a snapshot
   * (`snapshot`), registry entries and members of a version no live key named are left out
   * (garbage the edge had not swept yet): the metadata, first in key order, creates mappings.
   */
  apply(e: Entry, snapshot = false): WriteOp[] {
    if (e.kind === KIND_META) return this.#meta(e);
    const space = e.key[1]!;
    // The edge's dead markers are its own collector's bookkeeping: the hub marks its own
    // version when the edge's registry entry goes (below), which the edge does only for a
    // version that is dead.
    if (space === SPACE_TYPES_DEAD) return [];
    const edgeVersion = u64(e.key, 2);
    if (space === SPACE_TYPES_REGISTRY) {
      if (e.key.length !== 10) return [];
      if (e.kind !== KIND_PUT) {
        const hubVersion = this.#lookup(edgeVersion);
        if (hubVersion === undefined) return [];
        this.#pending.set(edgeVersion, null);
        this.counts.applied++;
        // Without its registry entry the hub's collector would never visit the version again:
        // its marker lets compaction drop the members, and the collector remove the marker.
        return [
          { type: "delete", key: this.#mapKey(edgeVersion) },
          { type: "delete", key: registryKey(hubVersion) },
          { type: "put", key: deadMarkerKey(hubVersion), value: new Uint8Array(0) },
        ];
      }
      const key = siteKey(this.#prefix, e.value);
      if (key === undefined) return [];
      const hubVersion = this.#lookup(edgeVersion);
      if (hubVersion !== undefined) {
        this.counts.applied++;
        return [{ type: "put", key: registryKey(hubVersion), value: key }];
      }
      if (snapshot) return [];
      const ops: WriteOp[] = [];
      this.#allocate(edgeVersion, key, ops);
      return ops;
    }
    const hubVersion = this.#lookup(edgeVersion);
    if (hubVersion === undefined) {
      // A delete has nothing to delete; a snapshot's unmapped members are the edge's garbage.
      if (e.kind === KIND_PUT && !snapshot) this.counts.orphaned++;
      return [];
    }
    const key = e.key.slice();
    putU64(key, 2, hubVersion);
    this.counts.applied++;
    if (e.kind !== KIND_PUT) return [{ type: "delete", key }];
    return [{ type: "put", key, value: e.value }];
  }

  /** The metadata of `S/k`, pointing at the hub version of the edge's. */
  #meta(e: Entry): WriteOp[] {
    const key = siteKey(this.#prefix, e.key);
    if (key === undefined) return [];
    const input = new ByteReader(e.value);
    let header;
    try {
      header = decodeMetaHeader(input);
    } catch {
      this.counts.orphaned++;
      return [];
    }
    const ops: WriteOp[] = [];
    const hubVersion = this.#lookup(header.version) ??
      this.#allocate(header.version, key, ops);
    const out = new ByteWriter(e.value.length + 8);
    encodeMetaHeader(out, { type: header.type, version: hubVersion });
    out.bytes(e.value.subarray(input.offset));
    const value = out.finish();
    ops.push(
      e.expireAtMs === 0
        ? { type: "meta", key, value }
        : { type: "meta", key, value, expireAtMs: e.expireAtMs },
    );
    this.counts.applied++;
    return ops;
  }

  /** A hub version for `edgeVersion`, with the ops recording it (mapping, hub registry). */
  #allocate(edgeVersion: number, hubKey: Uint8Array, ops: WriteOp[]): number {
    const { version, op } = this.#versions.allocate();
    const value = new Uint8Array(8);
    putU64(value, 0, version);
    ops.push(
      op,
      { type: "put", key: this.#mapKey(edgeVersion), value },
      { type: "put", key: registryKey(version), value: hubKey },
    );
    this.#pending.set(edgeVersion, version);
    this.counts.applied++;
    return version;
  }

  #lookup(edgeVersion: number): number | undefined {
    const pending = this.#pending.get(edgeVersion);
    if (pending !== undefined) return pending ?? undefined;
    const stored = this.#db.getEntry(this.#mapKey(edgeVersion));
    return stored === undefined || stored.value.length !== 8 ? undefined : u64(stored.value, 0);
  }

  #mapKey(edgeVersion: number): Uint8Array {
    const key = new Uint8Array(this.#mapPrefix.length + 8);
    key.set(this.#mapPrefix, 0);
    putU64(key, this.#mapPrefix.length, edgeVersion);
    return key;
  }
}

/** `ff 20 version`: the hub's registry entry of one of its versions. */
function registryKey(version: number): Uint8Array {
  const key = new Uint8Array(10);
  key[0] = INTERNAL_KEY_PREFIX;
  key[1] = SPACE_TYPES_REGISTRY;
  putU64(key, 2, version);
  return key;
}
