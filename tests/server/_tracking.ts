/**
 * What the client-side caching tests share: a RESP3 connection with tracking on, the push an
 * invalidation is, and how to show that none came without timing.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import type { RespConn, RespValue } from "./_resp_conn.ts";

/** A RESP3 connection from `open` with tracking on (`options` after ON). */
export async function tracker(
  open: () => Promise<RespConn>,
  ...options: string[]
): Promise<RespConn> {
  const c = await open();
  await c.call("HELLO", "3");
  assertEquals(await c.call("CLIENT", "TRACKING", "ON", ...options), "OK");
  return c;
}

/** The RESP3 push invalidating `keys` (`null`: a flush). */
export const inval = (keys: string[] | null): RespValue => ({ push: ["invalidate", keys] });

/**
 * No invalidation is queued for `c`: a PING on the same connection is answered after every
 * push already queued for it.
 */
export async function assertNoPush(c: RespConn): Promise<void> {
  assertEquals(await c.call("PING"), "PONG");
}

/** The next `n` pushes of `c`, in a stable order (keys of one write may come in any order). */
export async function readSorted(c: RespConn, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(JSON.stringify(await c.read()));
  return out.sort();
}

/** `inval([key])` of each of `keys`, as `readSorted` returns them. */
export function invalSorted(...keys: string[]): string[] {
  return keys.map((k) => JSON.stringify(inval([k]))).sort();
}
