/**
 * Extra INFO sections a role attaches to the database it serves (a fleet hub's `sites`, an
 * edge's `uplink`), so that the RESP server answers them without knowing about fleets, as
 * `replication/hooks.ts` does for INFO replication.
 *
 * @module
 */

import type { Database } from "../engine/mod.ts";

/** The lines of one INFO section, in order. */
export type InfoLines = () => [string, string | number][];

const sections = new WeakMap<Database, Map<string, InfoLines>>();

/** Attaches section `name` (lowercase) to `db`; `undefined` detaches it. */
export function attachInfoSection(db: Database, name: string, lines: InfoLines | undefined): void {
  let map = sections.get(db);
  if (lines === undefined) {
    map?.delete(name);
    return;
  }
  if (map === undefined) sections.set(db, map = new Map());
  map.set(name, lines);
}

/** The section `name` attached to `db`, if any. */
export function infoSectionOf(db: Database, name: string): InfoLines | undefined {
  return sections.get(db)?.get(name);
}

/** Names of the sections attached to `db`, in the order they were attached. */
export function infoSectionNames(db: Database): string[] {
  return [...(sections.get(db)?.keys() ?? [])];
}
