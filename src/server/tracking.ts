/**
 * Server-assisted client-side caching: the tracking table behind CLIENT TRACKING (Redis 6/7
 * semantics). ARCHITECTURE.md § "Client-side caching (CLIENT TRACKING)".
 *
 * - Default mode: the keys a tracking client's read commands name are remembered (key -> client
 *   ids); the first write to such a key sends each of those clients one invalidation and
 *   forgets the key, until a read remembers it again.
 * - BCAST mode: nothing is remembered per read; every written key that starts with one of the
 *   client's prefixes is collected, and the keys of one run of commands go out as one message
 *   per prefix once that run is over (Redis sends them before it sleeps).
 * - An invalidation is a RESP3 push `>2 invalidate [keys]` on the client's own connection, or on
 *   the REDIRECT client's: a RESP3 push, or for a RESP2 client in subscribe mode a `message` on
 *   `__redis__:invalidate`. A flush sends a null instead of the keys.
 * - Writes are heard from the engine (`Database.onApplied`, attached while any client tracks),
 *   whoever made them: commands, the HTTP API, a leader's records on a replica. A time-series
 *   log op names its series through the layer (`TrackingHost.logKeys`). `writer` tells which
 *   client's command is writing, for NOLOOP.
 * - Messages go through the client's push queue, which the connection writes only between two
 *   replies: an invalidation never splits a reply, and one caused by the client's own command
 *   follows that command's reply.
 *
 * Invariants:
 * - `clients` counts the clients whose `tracking` is set; when it is 0, the table and every
 *   prefix are empty and every hook returns after one comparison.
 * - `#items` is the sum of the sizes of the id sets in `#keys`; `#keys.size` is at most the
 *   configured limit after every `remember`.
 * - Ids of clients that left or turned tracking off stay in the table until the key is written
 *   or evicted (looked up then and skipped), as in Redis: disconnecting costs nothing per key.
 *
 * @module
 */

import { TRACKING_TABLE_KEYS_DEFAULT, TRACKING_TABLE_KEYS_MAX } from "../limits.ts";
import type { AppliedOp } from "../engine/mod.ts";
import { internalKey, isInternalKey, SPACE_TS_LOG } from "../keyspace/mod.ts";
import { equalBytes, hasPrefix } from "../util/bytes.ts";
import { KIND_LOG } from "../util/entry.ts";
import { assert } from "../util/assert.ts";
import type { Client, CommandContext, CommandSpec } from "./context.ts";
import { type PubSubHost, pushTo } from "./pubsub.ts";
import { concatChunks } from "./resp_writer.ts";
import { keyId } from "./txn_overlay.ts";

/** The tracking state of one client (CLIENT TRACKING ON and its options). */
export interface ClientTracking {
  /** Client id the messages go to; 0 = this client's own connection. */
  redirect: number;
  /** BCAST: invalidations by prefix, nothing remembered per read. */
  bcast: boolean;
  /** OPTIN: only reads after CLIENT CACHING YES are remembered. */
  optin: boolean;
  /** OPTOUT: reads after CLIENT CACHING NO are not remembered. */
  optout: boolean;
  /** NOLOOP: no invalidation for keys this client wrote itself. */
  noloop: boolean;
  /** CLIENT CACHING was given for the next command (or transaction). */
  caching: boolean;
  /** The redirect client was gone when a message was due. */
  brokenRedirect: boolean;
  /** BCAST prefixes by id (their bytes), in the order given. */
  readonly prefixes: Map<string, Uint8Array>;
}

/** What the table needs from the server. */
export interface TrackingHost extends PubSubHost {
  /** Connected clients by id (redirect targets, flush recipients). */
  readonly clients: Map<number, Client>;
  /**
   * Called with true when the first client turns tracking on, false when the last turns it off:
   * the server then attaches `applied` to the database's write listener, or detaches it.
   */
  active(on: boolean): void;
  /** Calls `visit` with the series keys a time-series log op changes (none while the layer is closed). */
  logKeys(value: Uint8Array, visit: (key: Uint8Array) => void): void;
}

/** Options of CLIENT TRACKING ON, checked by the command. */
export interface TrackingOptions {
  /** REDIRECT id, 0 = none. */
  redirect: number;
  /** BCAST given. */
  bcast: boolean;
  /** OPTIN given. */
  optin: boolean;
  /** OPTOUT given. */
  optout: boolean;
  /** NOLOOP given. */
  noloop: boolean;
  /** PREFIX arguments (BCAST only). */
  prefixes: readonly Uint8Array[];
}

interface Modified {
  key: Uint8Array;
  /** The client whose command wrote it last (NOLOOP), `undefined` for the server (expiry). */
  by: Client | undefined;
}

interface PrefixState {
  readonly prefix: Uint8Array;
  readonly clients: Set<Client>;
  /** Keys written since the last broadcast, by id. */
  keys: Map<string, Modified>;
}

const encoder = new TextEncoder();
/** `>2 $10 invalidate`: the head of a RESP3 invalidation push. */
const HEAD_RESP3 = encoder.encode(">2\r\n$10\r\ninvalidate\r\n");
/** `*3 $7 message $20 __redis__:invalidate`: the head of the RESP2 message on that channel. */
const HEAD_RESP2 = encoder.encode("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
const NULL_RESP3 = encoder.encode("_\r\n");
const NULL_RESP2 = encoder.encode("$-1\r\n");
const EMPTY = new Uint8Array(0);
/** The key of every time-series log op (`TS_LOG_KEY`; the layer itself loads when first used). */
const TS_LOG_KEY = internalKey(SPACE_TS_LOG);

/** The channel RESP2 redirect targets subscribe to. */
export const TRACKING_CHANNEL = "__redis__:invalidate";

/** The bytes of a key id (`keyId` maps each byte to one UTF-16 unit). */
function idBytes(id: string): Uint8Array {
  const out = new Uint8Array(id.length);
  for (let i = 0; i < id.length; i++) out[i] = id.charCodeAt(i);
  return out;
}

/** `*n` then each key as a bulk string (the same bytes in RESP2 and RESP3). */
function keysArray(keys: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${keys.length}\r\n`)];
  for (const k of keys) {
    parts.push(encoder.encode(`$${k.length}\r\n`), k, CRLF);
  }
  return concatChunks(parts);
}

const CRLF = encoder.encode("\r\n");

/** What the dispatcher runs after each command of a tracking client (`tracking_hooks.ts`). */
export type AfterTrackedCommand = (
  ctx: CommandContext,
  spec: CommandSpec,
  args: Uint8Array[],
  table: ReadonlyMap<string, CommandSpec>,
) => void;

/** The server's tracking table and BCAST prefixes. */
export class TrackingTable {
  /** Clients with tracking on (INFO `tracking_clients`); 0 = every hook is a no-op. */
  clients = 0;
  /**
   * The dispatcher's hook after a tracking client's command, set by the first CLIENT TRACKING
   * (`commands/client_tracking.ts`, loaded on first use): a server where nobody tracks never
   * loads it, nor the key finder it uses. Set whenever any client's `tracking` is.
   */
  afterCommand: AfterTrackedCommand | undefined;
  /**
   * The client whose command is writing (`Context.write` sets it around the engine write while
   * any client tracks); `undefined` for every other writer (HTTP, replication, the server).
   * NOLOOP drops a client's own keys by it.
   */
  writer: Client | undefined;
  /** FLUSHALL/FLUSHDB in progress: their deletes invalidate nothing, `flushed` then says all. */
  #flushing = 0;
  /** `tracking-table-max-keys`: 0 = Redis's "no limit", bounded here by the hard maximum. */
  maxKeys = TRACKING_TABLE_KEYS_DEFAULT;
  readonly #host: TrackingHost;
  /** Remembered keys by id -> ids of the clients that read them. Oldest first (eviction). */
  readonly #keys = new Map<string, Set<number>>();
  #items = 0;
  readonly #prefixes = new Map<string, PrefixState>();
  #broadcastScheduled = false;

  /** An empty table sending through `host`. */
  constructor(host: TrackingHost) {
    this.#host = host;
  }

  /** Keys remembered (INFO `tracking_total_keys`). */
  get totalKeys(): number {
    return this.#keys.size;
  }

  /** Key and client pairs remembered (INFO `tracking_total_items`). */
  get totalItems(): number {
    return this.#items;
  }

  /** Distinct BCAST prefixes (INFO `tracking_total_prefixes`). */
  get totalPrefixes(): number {
    return this.#prefixes.size;
  }

  /** Turns tracking on for `client` with `options` (checked by the command), or changes them. */
  enable(client: Client, options: TrackingOptions): void {
    let t = client.tracking;
    if (t === undefined) {
      if (this.clients++ === 0) this.#host.active(true);
      t = client.tracking = {
        redirect: 0,
        bcast: false,
        optin: false,
        optout: false,
        noloop: false,
        caching: false,
        brokenRedirect: false,
        prefixes: new Map(),
      };
    }
    t.redirect = options.redirect;
    t.brokenRedirect = false;
    t.bcast = options.bcast;
    t.optin = options.optin;
    t.optout = options.optout;
    t.noloop = options.noloop;
    if (!options.bcast) return;
    if (options.prefixes.length === 0) this.#addPrefix(client, t, new Uint8Array(0));
    for (const p of options.prefixes) this.#addPrefix(client, t, p);
  }

  #addPrefix(client: Client, t: ClientTracking, prefix: Uint8Array): void {
    const id = keyId(prefix);
    let state = this.#prefixes.get(id);
    if (state === undefined) {
      state = { prefix, clients: new Set(), keys: new Map() };
      this.#prefixes.set(id, state);
    }
    state.clients.add(client);
    t.prefixes.set(id, prefix);
  }

  /** Turns tracking off for `client` (CLIENT TRACKING OFF, RESET, disconnect). */
  disable(client: Client): void {
    const t = client.tracking;
    if (t === undefined) return;
    for (const id of t.prefixes.keys()) {
      const state = this.#prefixes.get(id);
      if (state === undefined) continue;
      state.clients.delete(client);
      if (state.clients.size === 0) this.#prefixes.delete(id);
    }
    client.tracking = undefined;
    this.clients--;
    if (this.clients === 0) {
      // Nobody can receive anything: free the whole table now.
      this.#keys.clear();
      this.#items = 0;
      this.#host.active(false);
    }
  }

  /**
   * After a read command of `client` (tracking on, not BCAST): remembers `keys` unless OPTIN
   * without CLIENT CACHING YES, or OPTOUT with CLIENT CACHING NO, says not to.
   */
  remember(client: Client, keys: readonly Uint8Array[]): void {
    const t = client.tracking!;
    if ((t.optin && !t.caching) || (t.optout && t.caching)) return;
    for (const key of keys) {
      const id = keyId(key);
      let ids = this.#keys.get(id);
      if (ids === undefined) this.#keys.set(id, ids = new Set());
      if (!ids.has(client.id)) {
        ids.add(client.id);
        this.#items++;
      }
    }
    this.evictOverLimit();
  }

  /** Drops the oldest keys past the limit, each with an invalidation (CONFIG SET, `remember`). */
  evictOverLimit(): void {
    const limit = this.maxKeys === 0 ? TRACKING_TABLE_KEYS_MAX : this.maxKeys;
    while (this.#keys.size > limit) {
      const id = this.#keys.keys().next().value!;
      this.#invalidate(id, undefined, undefined);
    }
  }

  /**
   * A batch the engine applied (its write listener, attached while any client tracks): whoever
   * wrote it (a command, HTTP, a leader's record on a replica), every user key in it changed.
   */
  applied(ops: readonly AppliedOp[]): void {
    if (this.#flushing > 0) return;
    const by = this.writer;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const key = op.key;
      if (op.kind === KIND_LOG) {
        // A time series' samples, deletes and metadata: the layer names the series.
        if (equalBytes(key, TS_LOG_KEY)) {
          this.#host.logKeys(op.value ?? EMPTY, (k) => this.keyChanged(k, by));
        }
        continue;
      }
      // Member entries and series data (`0xFF ...`) are not user keys: every write of a hash,
      // list, set or sorted set also rewrites its metadata record at the user key.
      if (isInternalKey(key)) continue;
      this.keyChanged(key, by);
    }
  }

  /** FLUSHALL/FLUSHDB starts deleting every key (`flushed` ends it). */
  flushStarted(): void {
    this.#flushing++;
  }

  /** `key` changed (written by `by`'s command, or expired: `by` undefined). */
  keyChanged(key: Uint8Array, by: Client | undefined): void {
    if (this.#prefixes.size > 0) this.#collect(key, by);
    if (this.#keys.size > 0) this.#invalidate(keyId(key), key, by);
  }

  /**
   * Every key is gone (FLUSHALL/FLUSHDB, after `flushStarted`): a null invalidation to every
   * tracking client. Writes heard in between, the flush's deletes and anyone else's, sent
   * nothing: the null covers them all.
   */
  flushed(): void {
    assert(this.#flushing > 0, "flushed without flushStarted");
    this.#flushing--;
    this.replaced();
  }

  /**
   * The database's whole content was replaced (a replica installed its leader's snapshot,
   * `Database.onReplaced`): every key may have changed, so a null to every tracking client, as
   * Redis sends a replica's clients when a full sync empties its data.
   */
  replaced(): void {
    if (this.clients === 0) return;
    for (const c of this.#host.clients.values()) {
      if (c.tracking !== undefined) this.#send(c, undefined);
    }
    this.#keys.clear();
    this.#items = 0;
  }

  /** Sends the invalidation of the remembered key `id` to its clients and forgets it. */
  #invalidate(id: string, key: Uint8Array | undefined, by: Client | undefined): void {
    const ids = this.#keys.get(id);
    if (ids === undefined) return;
    this.#keys.delete(id);
    this.#items -= ids.size;
    let payload: Uint8Array | undefined;
    for (const cid of ids) {
      const target = this.#host.clients.get(cid);
      const t = target?.tracking;
      // Gone, off, or switched to BCAST since it read the key (Redis skips those too).
      if (t === undefined || t.bcast) continue;
      if (t.noloop && target === by) continue;
      this.#send(target!, payload ??= keysArray([key ?? idBytes(id)]));
    }
  }

  /** Collects `key` for the BCAST prefixes it starts with; they go out after this run. */
  #collect(key: Uint8Array, by: Client | undefined): void {
    let id: string | undefined;
    for (const state of this.#prefixes.values()) {
      if (!hasPrefix(key, state.prefix)) continue;
      // A copy: the engine's op is valid during its call only.
      state.keys.set(id ??= keyId(key), { key: key.slice(), by });
      if (!this.#broadcastScheduled) {
        this.#broadcastScheduled = true;
        // After every command of the run in progress, as Redis broadcasts before it sleeps.
        queueMicrotask(() => this.#broadcast());
      }
    }
  }

  #broadcast(): void {
    this.#broadcastScheduled = false;
    for (const state of this.#prefixes.values()) {
      if (state.keys.size === 0) continue;
      const modified = [...state.keys.values()];
      state.keys = new Map();
      let all: Uint8Array | undefined;
      for (const c of state.clients) {
        if (c.tracking?.noloop) {
          const others = modified.filter((m) => m.by !== c).map((m) => m.key);
          if (others.length > 0) this.#send(c, keysArray(others));
        } else this.#send(c, all ??= keysArray(modified.map((m) => m.key)));
      }
    }
  }

  /**
   * Sends one invalidation of `client` (`keys`: the array of keys, `undefined`: a null for a
   * flush) where its options say: its redirect target, or its own connection in RESP3.
   */
  #send(client: Client, keys: Uint8Array | undefined): void {
    const t = client.tracking!;
    let dest = client;
    const redirected = t.redirect !== 0;
    if (redirected) {
      const target = this.#host.clients.get(t.redirect);
      if (target === undefined || target.closed) {
        t.brokenRedirect = true;
        if (client.protocol === 3) {
          pushTo(
            this.#host,
            client,
            encoder.encode(`>2\r\n$21\r\ntracking-redir-broken\r\n:${t.redirect}\r\n`),
          );
        }
        return;
      }
      dest = target;
    }
    if (dest.closed) return;
    let head: Uint8Array;
    if (dest.protocol === 3) head = HEAD_RESP3;
    else if (redirected && dest.subscriptions !== undefined) head = HEAD_RESP2;
    // RESP2 has no pushes: a RESP2 client without a subscribed redirect target gets nothing.
    else return;
    const body = keys ?? (dest.protocol === 3 ? NULL_RESP3 : NULL_RESP2);
    pushTo(this.#host, dest, concatChunks([head, body]));
  }
}
