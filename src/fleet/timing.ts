/**
 * `CITYHALL_SYNC_TIMING`: the link timings of a hub and an uplink, for tests that run real
 * processes and for unusual links (ARCHITECTURE.md § "Uplink timings"). Comma-separated
 * `name=value` pairs, any subset: `heartbeat=MS`, `idle=MS`, `handshake=MS` and
 * `backoff=MIN-MAX` (milliseconds); e.g. `heartbeat=200,idle=2000,backoff=20-500`. Without it
 * the defaults hold (1 s heartbeat, 10 s idle timeout and handshake, 1 s to 60 s backoff).
 *
 * @module
 */

import type { BackoffOptions } from "../replication/backoff.ts";

/** The timings a hub or an uplink takes. */
export interface SyncTiming {
  heartbeatMs?: number;
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  backoff?: BackoffOptions;
}

/** Name of the environment variable. */
export const SYNC_TIMING_ENV = "CITYHALL_SYNC_TIMING";

/** Parses `text` (see the module); throws `Error` naming the bad part. */
export function parseSyncTiming(text: string): SyncTiming {
  const out: SyncTiming = {};
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const [name, value] = part.split("=");
    const ms = (v: string | undefined) => {
      const n = v !== undefined && /^\d{1,7}$/.test(v) ? Number(v) : NaN;
      if (!(n >= 1)) throw new Error(`bad ${SYNC_TIMING_ENV} value in ${JSON.stringify(part)}`);
      return n;
    };
    if (name === "heartbeat") out.heartbeatMs = ms(value);
    else if (name === "idle") out.idleTimeoutMs = ms(value);
    else if (name === "handshake") out.handshakeTimeoutMs = ms(value);
    else if (name === "backoff") {
      const [lo, hi] = (value ?? "").split("-");
      out.backoff = { baseMs: ms(lo), maxMs: ms(hi) };
    } else throw new Error(`unknown ${SYNC_TIMING_ENV} setting ${JSON.stringify(part)}`);
  }
  if (
    out.heartbeatMs !== undefined && out.idleTimeoutMs !== undefined &&
    out.heartbeatMs >= out.idleTimeoutMs
  ) {
    throw new Error(`${SYNC_TIMING_ENV}: heartbeat must be shorter than idle`);
  }
  return out;
}

/** The timings from the environment (none when unset or without --allow-env). */
export function syncTimingFromEnv(): SyncTiming {
  let text: string | undefined;
  try {
    text = Deno.env.get(SYNC_TIMING_ENV);
  } catch {
    return {};
  }
  return text === undefined ? {} : parseSyncTiming(text);
}
