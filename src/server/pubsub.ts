/**
 * Publish/subscribe: the channel, shard-channel and pattern registry, message fan-out and the
 * bounds on both. ARCHITECTURE.md § "Pub/sub" and § "Pub/sub limits".
 *
 * Semantics are Redis 7.0's for a non-cluster server: a PUBLISH reaches every client subscribed to
 * the channel and, once per matching pattern, every client subscribed to a pattern (Redis glob,
 * `glob.ts`); its reply counts deliveries. Shard channels (SSUBSCRIBE/SPUBLISH) are a separate
 * namespace, as in Redis, with no slots: there is one shard.
 *
 * Invariants:
 * - A client is in `#channels[c].clients` iff `c` is in its `subscriptions.channels` (same for
 *   patterns and shard channels); an entry with no clients is removed at once.
 * - `#count` is the number of (client, name) pairs over the three maps; `#nameBytes` the bytes of
 *   the names the maps hold. Both stay within `PUBSUB_SUBSCRIPTIONS_MAX` / `PUBSUB_NAME_BYTES_MAX`,
 *   checked for a whole command before any of it applies.
 * - A message is queued for a client only while its pending output stays within the pubsub hard
 *   limit; the message that would pass it closes the client instead (Redis's
 *   `client-output-buffer-limit pubsub`).
 *
 * @module
 */

import {
  PUBSUB_CLIENT_SUBSCRIPTIONS_MAX,
  PUBSUB_NAME_BYTES_MAX,
  PUBSUB_NAME_BYTES_MAX_EACH,
  PUBSUB_PATTERNS_MAX,
  PUBSUB_SUBSCRIPTIONS_MAX,
} from "../limits.ts";
import type { Logger } from "../util/log.ts";
import type { Client, ServerConfig } from "./context.ts";
import { ReplyError } from "./context.ts";
import { globMatch } from "./glob.ts";
import type { ServerMetrics } from "./metrics.ts";
import { MessageFrames, PUSH_KIND, PushQueue } from "./push.ts";
import { keyId } from "./txn_overlay.ts";

/** The three namespaces a client subscribes in. */
export type SubscriptionKind = "channel" | "pattern" | "shard";

/** What one client is subscribed to, by name id (`keyId`) -> name bytes. */
export class ClientSubscriptions {
  /** Channels (SUBSCRIBE). */
  readonly channels: Map<string, Uint8Array> = new Map();
  /** Patterns (PSUBSCRIBE). */
  readonly patterns: Map<string, Uint8Array> = new Map();
  /** Shard channels (SSUBSCRIBE). */
  readonly shards: Map<string, Uint8Array> = new Map();

  /** The map of `kind`. */
  of(kind: SubscriptionKind): Map<string, Uint8Array> {
    return kind === "channel" ? this.channels : kind === "pattern" ? this.patterns : this.shards;
  }

  /** Channels + patterns: the count SUBSCRIBE/PSUBSCRIBE confirmations carry (Redis 7.0). */
  get count(): number {
    return this.channels.size + this.patterns.size;
  }

  /** Every subscription: the client is in subscribe mode while this is above 0. */
  get total(): number {
    return this.channels.size + this.patterns.size + this.shards.size;
  }
}

/**
 * What other layers use to publish (the time-series layer's live sample feed, see
 * `publishSeriesSamples`): cheap to ask whether anyone listens, so producers can skip encoding.
 */
export interface PublishHook {
  /** Publishes `message` on `channel`; returns the number of deliveries. */
  publish(channel: Uint8Array, message: Uint8Array): number;
  /** True when a PUBLISH on `channel` would reach at least one client. */
  hasSubscribers(channel: Uint8Array): boolean;
}

interface Entry {
  readonly name: Uint8Array;
  readonly clients: Set<Client>;
}

/** What the registry needs from the server. */
export interface PubSubHost {
  /** Run-time settings (the pubsub output limits). */
  readonly config: ServerConfig;
  /** Counters (disconnections at the limit). */
  readonly metrics: ServerMetrics;
  /** Log sink. */
  readonly logger: Logger;
}

const encoder = new TextEncoder();

/** The server's pub/sub registry. */
export class PubSub implements PublishHook {
  readonly #host: PubSubHost;
  readonly #channels = new Map<string, Entry>();
  readonly #patterns = new Map<string, Entry>();
  readonly #shards = new Map<string, Entry>();
  #count = 0;
  #nameBytes = 0;

  /** An empty registry. */
  constructor(host: PubSubHost) {
    this.#host = host;
  }

  #map(kind: SubscriptionKind): Map<string, Entry> {
    return kind === "channel" ? this.#channels : kind === "pattern" ? this.#patterns : this.#shards;
  }

  /** Subscriptions of all clients together. */
  get subscriptions(): number {
    return this.#count;
  }

  /** Bytes of the distinct names held. */
  get nameBytes(): number {
    return this.#nameBytes;
  }

  /** Channels (or shard channels) with at least one subscriber (INFO `pubsub_channels`). */
  channelCount(kind: "channel" | "shard"): number {
    return this.#map(kind).size;
  }

  /** Distinct patterns (PUBSUB NUMPAT). */
  get patternCount(): number {
    return this.#patterns.size;
  }

  /**
   * Subscribes `client` to every name of `names` in `kind`, or to none: throws `ReplyError`
   * when the command would pass a limit. Returns, per name, the count to confirm with.
   */
  subscribe(client: Client, kind: SubscriptionKind, names: readonly Uint8Array[]): number[] {
    const subs = client.subscriptions ?? new ClientSubscriptions();
    this.#checkRoom(subs, kind, names);
    // Only now: a refused command must not leave the client in subscribe mode.
    client.subscriptions = subs;
    const mine = subs.of(kind);
    const map = this.#map(kind);
    const counts: number[] = [];
    for (const name of names) {
      const id = keyId(name);
      if (!mine.has(id)) {
        let entry = map.get(id);
        if (entry === undefined) {
          entry = { name, clients: new Set() };
          map.set(id, entry);
          this.#nameBytes += name.length;
        }
        entry.clients.add(client);
        mine.set(id, entry.name);
        this.#count++;
      }
      counts.push(kind === "shard" ? subs.shards.size : subs.count);
    }
    return counts;
  }

  #checkRoom(subs: ClientSubscriptions, kind: SubscriptionKind, names: readonly Uint8Array[]) {
    const mine = subs.of(kind);
    const map = this.#map(kind);
    const fresh = new Set<string>();
    let newNames = 0;
    let newBytes = 0;
    for (const name of names) {
      if (name.length > PUBSUB_NAME_BYTES_MAX_EACH) {
        throw new ReplyError(
          `ERR ${kind === "pattern" ? "Pattern" : "Channel"} name too long: ${name.length} ` +
            `bytes (limit ${PUBSUB_NAME_BYTES_MAX_EACH})`,
        );
      }
      const id = keyId(name);
      if (mine.has(id) || fresh.has(id)) continue;
      fresh.add(id);
      if (!map.has(id)) {
        newNames++;
        newBytes += name.length;
      }
    }
    if (subs.total + fresh.size > PUBSUB_CLIENT_SUBSCRIPTIONS_MAX) {
      throw new ReplyError(
        `ERR Too many subscriptions: at most ${PUBSUB_CLIENT_SUBSCRIPTIONS_MAX} channels, shard ` +
          `channels and patterns per connection`,
      );
    }
    if (this.#count + fresh.size > PUBSUB_SUBSCRIPTIONS_MAX) {
      throw new ReplyError(
        `ERR Too many subscriptions on this server: at most ${PUBSUB_SUBSCRIPTIONS_MAX}`,
      );
    }
    if (kind === "pattern" && this.#patterns.size + newNames > PUBSUB_PATTERNS_MAX) {
      throw new ReplyError(
        `ERR Too many patterns on this server: at most ${PUBSUB_PATTERNS_MAX} distinct patterns`,
      );
    }
    if (this.#nameBytes + newBytes > PUBSUB_NAME_BYTES_MAX) {
      throw new ReplyError(
        `ERR Too many channel and pattern names on this server: at most ` +
          `${PUBSUB_NAME_BYTES_MAX} bytes`,
      );
    }
  }

  /**
   * Unsubscribes `client` from `names` in `kind` (all of them when `names` is undefined).
   * Returns each name with the count left to confirm with, in order.
   */
  unsubscribe(
    client: Client,
    kind: SubscriptionKind,
    names?: readonly Uint8Array[],
  ): { name: Uint8Array; count: number }[] {
    const subs = client.subscriptions;
    const result: { name: Uint8Array; count: number }[] = [];
    if (subs === undefined) {
      for (const name of names ?? []) result.push({ name, count: 0 });
      return result;
    }
    const mine = subs.of(kind);
    const list = names ?? [...mine.values()];
    for (const name of list) {
      const id = keyId(name);
      if (mine.delete(id)) this.#leave(kind, id, client);
      result.push({ name, count: kind === "shard" ? subs.shards.size : subs.count });
    }
    if (subs.total === 0) client.subscriptions = undefined;
    return result;
  }

  #leave(kind: SubscriptionKind, id: string, client: Client): void {
    const map = this.#map(kind);
    const entry = map.get(id);
    if (entry === undefined || !entry.clients.delete(client)) return;
    this.#count--;
    if (entry.clients.size === 0) {
      map.delete(id);
      this.#nameBytes -= entry.name.length;
    }
  }

  /** Forgets every subscription of `client` (disconnect, RESET). */
  forget(client: Client): void {
    const subs = client.subscriptions;
    if (subs === undefined) return;
    for (const kind of ["channel", "pattern", "shard"] as const) {
      for (const id of subs.of(kind).keys()) this.#leave(kind, id, client);
    }
    client.subscriptions = undefined;
  }

  /**
   * PUBLISH: delivers `message` to the channel's and the matching patterns' subscribers;
   * `from` is the client running the command (its own copy goes straight into its replies, so
   * it comes before the PUBLISH reply as in Redis). Returns the number of deliveries.
   */
  publish(channel: Uint8Array, message: Uint8Array, from?: Client): number {
    let n = 0;
    const entry = this.#channels.get(keyId(channel));
    if (entry !== undefined) {
      const frames = new MessageFrames([PUSH_KIND.message, channel, message]);
      for (const c of entry.clients) this.deliver(c, frames, from);
      n += entry.clients.size;
    }
    if (this.#patterns.size > 0) {
      for (const p of this.#patterns.values()) {
        if (!globMatch(p.name, channel)) continue;
        const frames = new MessageFrames([PUSH_KIND.pmessage, p.name, channel, message]);
        for (const c of p.clients) this.deliver(c, frames, from);
        n += p.clients.size;
      }
    }
    return n;
  }

  /** SPUBLISH: delivers `message` to the shard channel's subscribers. */
  spublish(channel: Uint8Array, message: Uint8Array, from?: Client): number {
    const entry = this.#shards.get(keyId(channel));
    if (entry === undefined) return 0;
    const frames = new MessageFrames([PUSH_KIND.smessage, channel, message]);
    for (const c of entry.clients) this.deliver(c, frames, from);
    return entry.clients.size;
  }

  /** True when a PUBLISH on `channel` would reach someone. */
  hasSubscribers(channel: Uint8Array): boolean {
    if (this.#count === 0) return false;
    if (this.#channels.has(keyId(channel))) return true;
    for (const p of this.#patterns.values()) if (globMatch(p.name, channel)) return true;
    return false;
  }

  /** True when nobody subscribes to any channel or pattern (notifications skip all work). */
  get idle(): boolean {
    return this.#channels.size === 0 && this.#patterns.size === 0;
  }

  /** Active channels (or shard channels) matching `pattern` (all when undefined). */
  activeChannels(kind: "channel" | "shard", pattern?: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.#map(kind).values()) {
      if (pattern === undefined || globMatch(pattern, e.name)) out.push(e.name);
    }
    return out;
  }

  /** The count an (un)subscribe confirmation of `kind` carries for `client` now. */
  countFor(client: Client, kind: SubscriptionKind): number {
    const subs = client.subscriptions;
    if (subs === undefined) return 0;
    return kind === "shard" ? subs.shards.size : subs.count;
  }

  /** Subscribers of one channel or shard channel (PUBSUB NUMSUB / SHARDNUMSUB). */
  subscriberCount(kind: "channel" | "shard", name: Uint8Array): number {
    return this.#map(kind).get(keyId(name))?.clients.size ?? 0;
  }

  /**
   * Queues `frames` for `client` (or appends them to its replies when it is `from`, the client
   * running the command). Closes the client instead when its pending output would pass the
   * pubsub hard limit.
   */
  deliver(client: Client, frames: MessageFrames, from?: Client): void {
    if (client.closed) return;
    const bytes = frames.frame(client.protocol);
    if (client === from) {
      client.out.raw(bytes);
      return;
    }
    pushTo(this.#host, client, bytes);
  }
}

/**
 * Queues `bytes` for `client`'s socket, or closes the client when its pending output would pass
 * the pubsub hard limit (`client-output-buffer-limit pubsub <hard>`; 0 = none).
 */
export function pushTo(host: PubSubHost, client: Client, bytes: Uint8Array): void {
  const queue = client.pushQueue ??= new PushQueue();
  const limit = host.config.pubsubHardLimitBytes;
  const pending = queue.bytes + client.outputPendingBytes + bytes.length;
  if (limit > 0 && pending > limit) {
    queue.clear();
    host.metrics.outputLimitDisconnections++;
    host.logger("warn", "closing client: pubsub output buffer limit reached", {
      client: client.id,
      addr: client.addr,
      pending_bytes: pending,
      limit_bytes: limit,
    });
    client.kill("pubsub output buffer hard limit");
    return;
  }
  queue.add(bytes);
  client.onPush?.();
}

/** The channel a series' live samples are published on: `__ts__:<key>`. */
export function seriesChannel(key: Uint8Array): Uint8Array {
  const prefix = encoder.encode("__ts__:");
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix);
  out.set(key, prefix.length);
  return out;
}

/**
 * Publishes new samples of series `key` on `__ts__:<key>`, one message per sample, the payload
 * `<timestamp ms> <value>` in ASCII (the value as JavaScript prints it: `21.5`, `-3`, `1e+21`).
 * Does nothing (and encodes nothing) when no client listens. Returns the deliveries.
 */
export function publishSeriesSamples(
  hook: PublishHook,
  key: Uint8Array,
  samples: readonly { timestampMs: number; value: number }[],
): number {
  const channel = seriesChannel(key);
  if (!hook.hasSubscribers(channel)) return 0;
  let n = 0;
  for (const s of samples) {
    n += hook.publish(channel, encoder.encode(`${s.timestampMs} ${s.value}`));
  }
  return n;
}
