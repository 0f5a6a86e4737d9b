/**
 * Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
 * PUBLISH SPUBLISH PUBSUB. ARCHITECTURE.md § "Pub/sub".
 *
 * Confirmations are one frame per name, `*3` in RESP2 and a `>3` push in RESP3, with the
 * client's subscription count after it (channels + patterns, or shard channels for the S
 * forms), exactly as Redis 7.0 writes them. The subscribe-mode rule of RESP2 is the
 * dispatcher's (`dispatch.ts`).
 *
 * @module
 */

import {
  arityError,
  type CommandContext,
  type CommandSpec,
  echoArg,
  lower,
  NO_KEYS,
  ReplyError,
  specBuilder,
} from "../context.ts";
import { PUSH_KIND, pushFrame } from "../push.ts";
import type { SubscriptionKind } from "../pubsub.ts";
import { GLOB_PATTERN_BYTES_MAX } from "../../limits.ts";

const encoder = new TextEncoder();

const SUBSCRIBE_KIND = {
  channel: PUSH_KIND.subscribe,
  pattern: PUSH_KIND.psubscribe,
  shard: PUSH_KIND.ssubscribe,
} as const;

const UNSUBSCRIBE_KIND = {
  channel: PUSH_KIND.unsubscribe,
  pattern: PUSH_KIND.punsubscribe,
  shard: PUSH_KIND.sunsubscribe,
} as const;

function subscribe(ctx: CommandContext, kind: SubscriptionKind): void {
  const names = ctx.args.slice(1);
  if (kind === "pattern") {
    for (const p of names) {
      if (p.length > GLOB_PATTERN_BYTES_MAX) {
        throw new ReplyError(
          `ERR Pattern too long: ${p.length} bytes (limit ${GLOB_PATTERN_BYTES_MAX})`,
        );
      }
    }
  }
  const counts = ctx.server.pubsub.subscribe(ctx.client, kind, names);
  const protocol = ctx.client.protocol;
  for (let i = 0; i < names.length; i++) {
    ctx.out.raw(pushFrame(protocol, [SUBSCRIBE_KIND[kind], names[i]!], counts[i]!));
  }
}

function unsubscribe(ctx: CommandContext, kind: SubscriptionKind): void {
  const names = ctx.args.length > 1 ? ctx.args.slice(1) : undefined;
  const done = ctx.server.pubsub.unsubscribe(ctx.client, kind, names);
  const protocol = ctx.client.protocol;
  if (done.length === 0) {
    // Nothing to leave: one confirmation with a null name, as Redis answers.
    ctx.out.raw(encoder.encode(protocol === 3 ? ">3\r\n" : "*3\r\n"));
    ctx.out.bulk(UNSUBSCRIBE_KIND[kind]);
    ctx.out.null();
    ctx.out.integer(ctx.server.pubsub.countFor(ctx.client, kind));
    return;
  }
  for (const { name, count } of done) {
    ctx.out.raw(pushFrame(protocol, [UNSUBSCRIBE_KIND[kind], name], count));
  }
}

function publish(ctx: CommandContext): void {
  ctx.out.integer(ctx.server.pubsub.publish(ctx.args[1]!, ctx.args[2]!, ctx.client));
}

function spublish(ctx: CommandContext): void {
  ctx.out.integer(ctx.server.pubsub.spublish(ctx.args[1]!, ctx.args[2]!, ctx.client));
}

const PUBSUB_HELP = [
  "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
  "CHANNELS [<pattern>]",
  "    Channels with at least one subscriber, matching <pattern> (default '*').",
  "NUMPAT",
  "    Number of distinct patterns subscribed to.",
  "NUMSUB [<channel> ...]",
  "    Subscribers of each channel (pattern subscribers not counted).",
  "SHARDCHANNELS [<pattern>]",
  "    Shard channels with at least one subscriber, matching <pattern> (default '*').",
  "SHARDNUMSUB [<shardchannel> ...]",
  "    Subscribers of each shard channel.",
  "HELP",
  "    Print this help.",
];

function pubsubCommand(ctx: CommandContext): void {
  const { args, out } = ctx;
  const pubsub = ctx.server.pubsub;
  const sub = lower(args[1]!);
  const n = args.length;
  const wrong = () =>
    new ReplyError(
      `ERR unknown subcommand or wrong number of arguments for '${echoArg(args[1]!, 128)}'. ` +
        `Try PUBSUB HELP.`,
    );
  switch (sub) {
    case "channels":
    case "shardchannels": {
      if (n > 3) throw wrong();
      const kind = sub === "channels" ? "channel" : "shard";
      const names = pubsub.activeChannels(kind, n === 3 ? args[2] : undefined);
      out.array(names.length);
      for (const name of names) out.bulk(name);
      return;
    }
    case "numsub":
    case "shardnumsub": {
      const kind = sub === "numsub" ? "channel" : "shard";
      out.array((n - 2) * 2);
      for (let i = 2; i < n; i++) {
        out.bulk(args[i]!);
        out.integer(pubsub.subscriberCount(kind, args[i]!));
      }
      return;
    }
    case "numpat":
      if (n !== 2) throw arityError("pubsub|numpat");
      return out.integer(pubsub.patternCount);
    case "help":
      if (n !== 2) throw arityError("pubsub|help");
      out.array(PUBSUB_HELP.length);
      for (const line of PUBSUB_HELP) out.simple(line);
      return;
    default:
      throw new ReplyError(`ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try PUBSUB HELP.`);
  }
}

const spec = specBuilder("pubsub", NO_KEYS);
const SUB_FLAGS = ["pubsub", "noscript", "loading", "stale"];
const PUB_FLAGS = ["pubsub", "loading", "stale", "fast"];

/** The pub/sub commands. */
export const PUBSUB_COMMANDS: CommandSpec[] = [
  spec(
    "subscribe",
    -2,
    SUB_FLAGS,
    "2.0.0",
    "Listens for messages published to channels.",
    (ctx) => subscribe(ctx, "channel"),
  ),
  spec(
    "unsubscribe",
    -1,
    SUB_FLAGS,
    "2.0.0",
    "Stops listening to messages posted to channels.",
    (ctx) => unsubscribe(ctx, "channel"),
  ),
  spec(
    "psubscribe",
    -2,
    SUB_FLAGS,
    "2.0.0",
    "Listens for messages published to channels that match one or more patterns.",
    (ctx) => subscribe(ctx, "pattern"),
  ),
  spec(
    "punsubscribe",
    -1,
    SUB_FLAGS,
    "2.0.0",
    "Stops listening to messages published to channels that match one or more patterns.",
    (ctx) => unsubscribe(ctx, "pattern"),
  ),
  {
    ...spec(
      "ssubscribe",
      -2,
      SUB_FLAGS,
      "7.0.0",
      "Listens for messages published to shard channels.",
      (ctx) => subscribe(ctx, "shard"),
    ),
    firstKey: 1,
    lastKey: -1,
    step: 1,
  },
  {
    ...spec(
      "sunsubscribe",
      -1,
      SUB_FLAGS,
      "7.0.0",
      "Stops listening to messages posted to shard channels.",
      (ctx) => unsubscribe(ctx, "shard"),
    ),
    firstKey: 1,
    lastKey: -1,
    step: 1,
  },
  spec("publish", 3, PUB_FLAGS, "2.0.0", "Posts a message to a channel.", publish),
  {
    ...spec("spublish", 3, PUB_FLAGS, "7.0.0", "Post a message to a shard channel", spublish),
    firstKey: 1,
    lastKey: 1,
    step: 1,
  },
  {
    ...spec(
      "pubsub",
      -2,
      [],
      "2.8.0",
      "A container for Pub/Sub commands.",
      pubsubCommand,
    ),
    subcommands: {
      channels: -2,
      numsub: -2,
      numpat: 2,
      shardchannels: -2,
      shardnumsub: -2,
      help: 2,
    },
  },
];
