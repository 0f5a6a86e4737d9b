/**
 * A check a role attaches to the database it serves, run by the RESP dispatcher on the keys of
 * time-series write commands before the command runs (a fleet hub refuses writes into its
 * sites' namespaces with it). The engine's write guard also refuses them, but only after the
 * time-series layer has applied the command to memory; refusing here changes nothing.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";

/** The error reply for a key that must not be written, or undefined. */
export type KeyGuard = (key: Uint8Array) => string | undefined;

const guards = new WeakMap<Database, KeyGuard>();

/** Attaches `guard` to `db`; `undefined` detaches it. */
export function attachKeyGuard(db: Database, guard: KeyGuard | undefined): void {
  if (guard === undefined) guards.delete(db);
  else guards.set(db, guard);
}

/** The guard attached to `db`, if any. */
export function keyGuardOf(db: Database): KeyGuard | undefined {
  return guards.get(db);
}
