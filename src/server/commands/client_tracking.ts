/**
 * CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO with Redis 7.0's replies and error
 * strings. ARCHITECTURE.md § "Client-side caching (CLIENT TRACKING)"; the table itself is
 * `../tracking.ts`.
 *
 * @module
 */

import { TRACKING_PREFIXES_PER_CLIENT_MAX } from "../../limits.ts";
import {
  type CommandContext,
  ERR_NOT_INTEGER,
  ERR_SYNTAX,
  lower,
  parseInt64,
  ReplyError,
  text,
} from "../context.ts";
import type { TrackingOptions } from "../tracking.ts";
import { afterTrackedCommand } from "../tracking_hooks.ts";

/** True when one of `a`, `b` starts with the other (they would invalidate the same keys). */
function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]. */
export function clientTracking(ctx: CommandContext): void {
  const { args, client, server } = ctx;
  const options: TrackingOptions = {
    redirect: 0,
    bcast: false,
    optin: false,
    optout: false,
    noloop: false,
    prefixes: [],
  };
  const prefixes: Uint8Array[] = [];
  for (let j = 3; j < args.length; j++) {
    const opt = lower(args[j]!);
    const more = j + 1 < args.length;
    if (opt === "redirect" && more) {
      j++;
      if (options.redirect !== 0) {
        throw new ReplyError("ERR A client can only redirect to a single other client");
      }
      const id = parseInt64(args[j]!);
      if (id === undefined) throw new ReplyError(ERR_NOT_INTEGER);
      // Redis checks that the target exists now, though it may leave later.
      const target = id > 0n && id <= BigInt(Number.MAX_SAFE_INTEGER)
        ? server.clients.get(Number(id))
        : undefined;
      if (target === undefined || target.closed) {
        throw new ReplyError("ERR The client ID you want redirect to does not exist");
      }
      options.redirect = target.id;
    } else if (opt === "bcast") options.bcast = true;
    else if (opt === "optin") options.optin = true;
    else if (opt === "optout") options.optout = true;
    else if (opt === "noloop") options.noloop = true;
    else if (opt === "prefix" && more) prefixes.push(args[++j]!);
    else throw new ReplyError(ERR_SYNTAX);
  }
  const mode = lower(args[2]!);
  if (mode === "off") {
    server.tracking.disable(client);
    return ctx.out.ok();
  }
  if (mode !== "on") throw new ReplyError(ERR_SYNTAX);
  const current = client.tracking;
  if (!options.bcast && prefixes.length > 0) {
    throw new ReplyError("ERR PREFIX option requires BCAST mode to be enabled");
  }
  if (current !== undefined && current.bcast !== options.bcast) {
    throw new ReplyError(
      "ERR You can't switch BCAST mode on/off before disabling tracking for this client, " +
        "and then re-enabling it with a different mode.",
    );
  }
  if (options.bcast && (options.optin || options.optout)) {
    throw new ReplyError("ERR OPTIN and OPTOUT are not compatible with BCAST");
  }
  if (options.optin && options.optout) {
    throw new ReplyError("ERR You can't specify both OPTIN mode and OPTOUT mode");
  }
  if (
    (options.optin && current?.optout) || (options.optout && current?.optin)
  ) {
    throw new ReplyError(
      "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, " +
        "and then re-enabling it with a different mode.",
    );
  }
  if (options.bcast) {
    checkPrefixes(prefixes, current?.prefixes);
    const have = current?.prefixes.size ?? 0;
    if (have + Math.max(prefixes.length, 1) > TRACKING_PREFIXES_PER_CLIENT_MAX) {
      throw new ReplyError(
        `ERR Too many tracking prefixes: at most ${TRACKING_PREFIXES_PER_CLIENT_MAX} per client`,
      );
    }
  }
  options.prefixes = prefixes;
  server.tracking.afterCommand ??= afterTrackedCommand;
  server.tracking.enable(client, options);
  ctx.out.ok();
}

/** Redis's prefix collision check: with the client's prefixes, then among the new ones. */
function checkPrefixes(
  prefixes: readonly Uint8Array[],
  existing: ReadonlyMap<string, Uint8Array> | undefined,
): void {
  for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i]!;
    if (existing !== undefined) {
      for (const have of existing.values()) {
        // Re-adding a prefix the client has already is a collision too, as in Redis.
        if (overlaps(have, p)) {
          throw new ReplyError(
            `ERR Prefix '${text(p)}' overlaps with an existing prefix '${text(have)}'. ` +
              "Prefixes for a single client must not overlap.",
          );
        }
      }
    }
    for (let j = i + 1; j < prefixes.length; j++) {
      if (overlaps(p, prefixes[j]!)) {
        throw new ReplyError(
          `ERR Prefix '${text(p)}' overlaps with another provided prefix ` +
            `'${text(prefixes[j]!)}'. Prefixes for a single client must not overlap.`,
        );
      }
    }
  }
}

/** CLIENT CACHING YES|NO: the next command (or transaction) is, or is not, remembered. */
export function clientCaching(ctx: CommandContext): void {
  const t = ctx.client.tracking;
  if (t === undefined) {
    throw new ReplyError(
      "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN " +
        "or OPTOUT mode enabled",
    );
  }
  const opt = lower(ctx.args[2]!);
  if (opt === "yes") {
    if (!t.optin) {
      throw new ReplyError(
        "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
      );
    }
  } else if (opt === "no") {
    if (!t.optout) {
      throw new ReplyError(
        "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
      );
    }
  } else throw new ReplyError(ERR_SYNTAX);
  t.caching = true;
  ctx.out.ok();
}

/** CLIENT GETREDIR: the redirect id, 0 when tracking without one, -1 when not tracking. */
export function clientGetRedir(ctx: CommandContext): void {
  ctx.out.integer(ctx.client.tracking?.redirect ?? -1);
}

/** CLIENT TRACKINGINFO: a map of `flags`, `redirect` and `prefixes`. */
export function clientTrackingInfo(ctx: CommandContext): void {
  const { out } = ctx;
  const t = ctx.client.tracking;
  const flags = [t === undefined ? "off" : "on"];
  if (t !== undefined) {
    if (t.bcast) flags.push("bcast");
    if (t.optin) flags.push("optin");
    if (t.optin && t.caching) flags.push("caching-yes");
    if (t.optout) flags.push("optout");
    if (t.optout && t.caching) flags.push("caching-no");
    if (t.noloop) flags.push("noloop");
    if (t.brokenRedirect) flags.push("broken_redirect");
  }
  out.map(3);
  out.bulk("flags");
  out.set(flags.length);
  for (const f of flags) out.bulk(f);
  out.bulk("redirect");
  out.integer(t?.redirect ?? -1);
  out.bulk("prefixes");
  const prefixes = t === undefined ? [] : [...t.prefixes.values()];
  out.array(prefixes.length);
  for (const p of prefixes) out.bulk(p);
}
