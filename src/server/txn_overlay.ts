/**
 * The database a transaction's commands see while EXEC runs them: reads go through the writes
 * the transaction has made so far; writes are staged, not applied. At the end EXEC writes the
 * staged operations to the engine as ONE batch (one WAL record), so a crash keeps all of the
 * transaction or none of it. ARCHITECTURE.md § "Transactions (MULTI/EXEC)" explains why.
 *
 * Invariants:
 * - A staged key holds its newest state: a live entry or a deletion; later writes replace it.
 * - `ops()` holds at most one operation per key, in the order keys were first written.
 * - Every staged operation passed the engine's per-operation checks (key and value size,
 *   expiry), so the final batch can fail only on batch-wide limits, checked before writing.
 *
 * @module
 */

import type { BytesLike, Database, ScanOptions, ScanRange, ValueEntry, WriteOp } from "../mod.ts";
import { InvalidArgumentError } from "../errors.ts";
import { compareBytes, hasPrefix, prefixEnd, toBytes } from "../util/bytes.ts";
import { EXPIRE_AT_MS_MAX, KEY_SIZE_BYTES_MAX, VALUE_SIZE_BYTES_MAX } from "../limits.ts";
import { type EntryKind, KIND_META, KIND_PUT } from "../util/entry.ts";

const latin1 = new TextDecoder("latin1");

/** A map key for raw key bytes (one character per byte, so distinct keys stay distinct). */
export function keyId(key: Uint8Array): string {
  if (key.length > 32) return latin1.decode(key);
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]!);
  return s;
}

interface Staged {
  key: Uint8Array;
  /** The new live entry, or `null` for a deletion. */
  entry: ValueEntry | null;
}

/** Checks one operation like the engine does, so the final batch cannot fail on it. */
function checkOp(op: WriteOp): { key: Uint8Array; value: Uint8Array | undefined } {
  const key = toBytes(op.key);
  if (key.length > KEY_SIZE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Key too large: ${key.length} bytes (limit ${KEY_SIZE_BYTES_MAX})`,
    );
  }
  if (op.type === "delete") return { key, value: undefined };
  if (op.type === "log") {
    // A log op's sequence is known only when it is written (time-series writes are refused
    // inside MULTI before they get here; ARCHITECTURE.md § "Time-series commands").
    throw new InvalidArgumentError("Log operations cannot be part of a transaction");
  }
  const value = toBytes(op.value);
  if (value.length > VALUE_SIZE_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Value too large: ${value.length} bytes (limit ${VALUE_SIZE_BYTES_MAX})`,
    );
  }
  const at = op.expireAtMs ?? 0;
  if (!Number.isSafeInteger(at) || at < 0 || at > EXPIRE_AT_MS_MAX) {
    throw new InvalidArgumentError(
      `Invalid expiry: ${op.expireAtMs} (must be an integer from 0 to ${EXPIRE_AT_MS_MAX})`,
    );
  }
  return { key, value };
}

function inRange(key: Uint8Array, range: ScanRange): boolean {
  if ("prefix" in range) return hasPrefix(key, toBytes(range.prefix));
  if (range.start !== undefined && compareBytes(key, toBytes(range.start)) < 0) return false;
  if (range.end !== undefined && compareBytes(key, toBytes(range.end)) >= 0) return false;
  return true;
}

/** The writes of one transaction over a database; `view()` is what its commands use. */
export class TxnOverlay {
  readonly #db: Database;
  readonly #staged = new Map<string, Staged>();
  #view: Database | undefined;

  /** An empty overlay over `db`. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** The live entry of `key` as the transaction sees it. */
  getEntry(key: BytesLike): ValueEntry | undefined {
    const k = toBytes(key);
    const staged = this.#staged.get(keyId(k));
    if (staged === undefined) return this.#db.getEntry(k);
    const e = staged.entry;
    if (e === null || (e.expireAtMs !== 0 && e.expireAtMs <= Date.now())) return undefined;
    return e;
  }

  /** Stages `ops` (all checked first: a bad one stages none). */
  stage(ops: readonly WriteOp[]): void {
    const checked = ops.map(checkOp);
    for (let i = 0; i < ops.length; i++) {
      const { key, value } = checked[i]!;
      const op = ops[i]!;
      const entry: ValueEntry | null = value === undefined ? null : {
        value,
        expireAtMs: op.type === "put" || op.type === "meta" ? op.expireAtMs ?? 0 : 0,
        seq: -1,
        kind: op.type === "meta" ? KIND_META : KIND_PUT,
      };
      const id = keyId(key);
      // Re-inserting keeps the first-write order of the map: delete only on a new key.
      const old = this.#staged.get(id);
      if (old !== undefined) old.entry = entry;
      else this.#staged.set(id, { key, entry });
    }
  }

  /** Keys and values in `range` as the transaction sees them, in unsigned byte order. */
  async *scan(
    range: ScanRange = {},
    options: ScanOptions = {},
  ): AsyncIterableIterator<[Uint8Array, Uint8Array]> {
    const reverse = options.reverse === true;
    const limit = options.limit ?? Infinity;
    const sign = reverse ? -1 : 1;
    const staged = [...this.#staged.values()]
      .filter((s) => inRange(s.key, range))
      .sort((a, b) => sign * compareBytes(a.key, b.key));
    const now = Date.now();
    let i = 0;
    let yielded = 0;
    const live = (s: Staged) =>
      s.entry !== null && (s.entry.expireAtMs === 0 || s.entry.expireAtMs > now);
    // The engine's keys, with the staged keys merged in and the staged state winning.
    for await (const [key, value] of this.#db.scan(range, { reverse })) {
      while (i < staged.length && sign * compareBytes(staged[i]!.key, key) < 0) {
        const s = staged[i++]!;
        if (live(s)) {
          yield [s.key, s.entry!.value];
          if (++yielded >= limit) return;
        }
      }
      if (i < staged.length && compareBytes(staged[i]!.key, key) === 0) {
        const s = staged[i++]!;
        if (!live(s)) continue;
        yield [s.key, s.entry!.value];
      } else yield [key, value];
      if (++yielded >= limit) return;
    }
    for (; i < staged.length; i++) {
      const s = staged[i]!;
      if (!live(s)) continue;
      yield [s.key, s.entry!.value];
      if (++yielded >= limit) return;
    }
  }

  /**
   * `Database.readRange` as the transaction sees it (the member types read through it): the
   * engine's rows with the staged keys merged in, the staged state winning.
   */
  readRange(
    range: ScanRange,
    options: { limit: number; reverse?: boolean },
  ): [Uint8Array, Uint8Array, EntryKind, number][] {
    const reverse = options.reverse === true;
    const sign = reverse ? -1 : 1;
    const limit = options.limit;
    const staged = [...this.#staged.values()].filter((s) => inRange(s.key, range))
      .sort((a, b) => sign * compareBytes(a.key, b.key));
    if (staged.length === 0) return this.#db.readRange(range, options);
    let start: Uint8Array | undefined;
    let end: Uint8Array | undefined;
    if ("prefix" in range) {
      const p = toBytes(range.prefix);
      start = p;
      end = prefixEnd(p);
    } else {
      start = range.start === undefined ? undefined : toBytes(range.start);
      end = range.end === undefined ? undefined : toBytes(range.end);
    }
    const now = Date.now();
    const out: [Uint8Array, Uint8Array, EntryKind, number][] = [];
    let si = 0;
    while (out.length < limit) {
      const window: ScanRange = {
        ...(start !== undefined ? { start } : {}),
        ...(end !== undefined ? { end } : {}),
      };
      const rows = this.#db.readRange(window, { limit, reverse });
      const full = rows.length === limit && limit > 0;
      const last = full ? rows[rows.length - 1]![0] : undefined;
      const merged: [Uint8Array, Uint8Array, EntryKind, number][] = [];
      let ri = 0;
      // Staged keys up to the last engine row read (all of them when the engine ran out).
      while (
        ri < rows.length || (si < staged.length &&
          (last === undefined || sign * compareBytes(staged[si]!.key, last) <= 0))
      ) {
        const r = rows[ri];
        const st = si < staged.length &&
            (last === undefined || sign * compareBytes(staged[si]!.key, last) <= 0)
          ? staged[si]
          : undefined;
        const c = r === undefined ? 1 : st === undefined ? -1 : sign * compareBytes(r[0], st.key);
        if (c < 0) {
          merged.push(r!);
          ri++;
          continue;
        }
        if (c === 0) ri++;
        si++;
        const e = st!.entry;
        if (e !== null && (e.expireAtMs === 0 || e.expireAtMs > now)) {
          merged.push([st!.key, e.value, e.kind, -1]);
        }
      }
      for (const m of merged) {
        if (out.length >= limit) break;
        out.push(m);
      }
      if (!full) break;
      if (reverse) end = last;
      else {
        const next = new Uint8Array(last!.length + 1);
        next.set(last!);
        start = next;
      }
    }
    return out;
  }

  /** Stages the deletion of every key the transaction sees (FLUSHDB inside MULTI). */
  async clear(): Promise<void> {
    const keys: Uint8Array[] = [];
    for await (const [key] of this.scan({})) keys.push(key);
    this.stage(keys.map((key) => ({ type: "delete", key })));
  }

  /**
   * The batch to write: one operation per staged key. A deletion of a key the engine does not
   * hold is left out (it would change nothing).
   */
  ops(): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const { key, entry } of this.#staged.values()) {
      if (entry === null) {
        if (this.#db.getEntry(key) !== undefined) ops.push({ type: "delete", key });
      } else {
        // A key of another type (EXPIRE/PERSIST rewrite its metadata entry) keeps its kind.
        const type = entry.kind === KIND_META ? "meta" : "put";
        if (entry.expireAtMs === 0) ops.push({ type, key, value: entry.value });
        else ops.push({ type, key, value: entry.value, expireAtMs: entry.expireAtMs });
      }
    }
    return ops;
  }

  /**
   * The database as the transaction's commands see it: `getEntry`, `get`, `scan`, `write`,
   * `put`, `delete` and `clear` go through the overlay (writes resolve at once: EXEC's reply
   * waits for the one real batch); everything else is the engine's own.
   */
  view(): Database {
    if (this.#view !== undefined) return this.#view;
    const write = (ops: readonly WriteOp[]): Promise<void> => {
      try {
        this.stage(ops);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const own: Record<PropertyKey, unknown> = {
      getEntry: (key: BytesLike) => this.getEntry(key),
      get: (key: BytesLike) => Promise.resolve(this.getEntry(key)?.value),
      scan: (range?: ScanRange, options?: ScanOptions) => this.scan(range, options),
      readRange: (range: ScanRange, options: { limit: number; reverse?: boolean }) =>
        this.readRange(range, options),
      write,
      put: (key: BytesLike, value: BytesLike, options: { expireAtMs?: number } = {}) =>
        write([{ type: "put", key, value, ...options }]),
      delete: (key: BytesLike) => write([{ type: "delete", key }]),
      clear: () => this.clear(),
    };
    this.#view = new Proxy(this.#db, {
      get(target, prop) {
        if (Object.hasOwn(own, prop)) return own[prop];
        // The engine's methods use private fields: call them on the engine itself.
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    return this.#view;
  }
}
