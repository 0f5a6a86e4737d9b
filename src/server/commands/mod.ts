/**
 * The command table: every command the RESP server runs, by lowercase name.
 *
 * The groups a server needs from its first command (connection, strings, keys, expiry, server,
 * replication, transactions, CLIENT) are imported at start. The others (Redis types, time
 * series, pub/sub, bits, introspection, SORT, DUMP) are loaded by the first command of their
 * group: until then the table holds a stub of each of their commands, with the command's
 * metadata (`_lazy_specs.ts`, written from the groups' own tables and checked against them by
 * tests/server/lazy_commands_test.ts) and a `load` the dispatcher awaits before it looks the
 * command up again. An idle server so keeps ~250 KB of sources out of memory
 * (ARCHITECTURE.md § "Memory").
 *
 * @module
 */

import type { CommandSpec } from "../context.ts";
import { CLIENT_COMMANDS } from "./client_commands.ts";
import { CONNECTION_COMMANDS } from "./connection.ts";
import { EXPIRY_COMMANDS } from "./expiry.ts";
import { KEY_COMMANDS } from "./keys.ts";
import { guardReadOnly, REPLICATION_COMMANDS } from "./replication.ts";
import { serverCommands } from "./server.ts";
import { STRING_COMMANDS } from "./strings.ts";
import { STRING_EDIT_COMMANDS } from "./string_edits.ts";
import { TRANSACTION_COMMANDS } from "../transaction.ts";
import { LAZY_SPECS, type LazyGroup, type LazySpec } from "./_lazy_specs.ts";

/**
 * Each lazily loaded group's commands. Static specifiers, so `deno compile` and `deno bundle`
 * include the modules.
 */
export const LAZY_GROUPS: Readonly<Record<LazyGroup, () => Promise<CommandSpec[]>>> = {
  timeseries: async () => (await import("./timeseries.ts")).TIMESERIES_WRITE_COMMANDS,
  timeseriesQuery: async () => (await import("./timeseries_query.ts")).TIMESERIES_READ_COMMANDS,
  pubsub: async () => (await import("./pubsub.ts")).PUBSUB_COMMANDS,
  bits: async () => (await import("./bits.ts")).BIT_COMMANDS,
  lcs: async () => (await import("./lcs.ts")).LCS_COMMANDS,
  introspection: async () => (await import("./introspection.ts")).INTROSPECTION_COMMANDS,
  hash: async () => (await import("./hash.ts")).HASH_COMMANDS,
  set: async () => (await import("./set.ts")).SET_COMMANDS,
  list: async () => (await import("./list.ts")).LIST_COMMANDS,
  blocking: async () => (await import("./blocking.ts")).BLOCKING_COMMAND_SPECS,
  zset: async () => (await import("./zset.ts")).ZSET_COMMANDS,
  zsetRange: async () => (await import("./zset_range.ts")).ZSET_RANGE_COMMANDS,
  zsetAlgebra: async () => (await import("./zset_algebra.ts")).ZSET_ALGEBRA_COMMANDS,
  sort: async () => (await import("./sort.ts")).SORT_COMMANDS,
  dump: async () => (await import("./dump.ts")).DUMP_COMMANDS,
};

/** The order groups enter the table in (COMMAND lists them in it). */
const ORDER: readonly (LazyGroup | CommandSpec[] | "server")[] = [
  CONNECTION_COMMANDS,
  STRING_COMMANDS,
  STRING_EDIT_COMMANDS,
  KEY_COMMANDS,
  EXPIRY_COMMANDS,
  "server",
  REPLICATION_COMMANDS,
  TRANSACTION_COMMANDS,
  "timeseries",
  "timeseriesQuery",
  CLIENT_COMMANDS,
  "pubsub",
  "bits",
  "lcs",
  "introspection",
  "hash",
  "set",
  "list",
  "blocking",
  "zset",
  "zsetRange",
  "zsetAlgebra",
  "sort",
  "dump",
];

/** The stub of `meta`, a command of `group` not loaded yet. */
function stub(meta: LazySpec, load: () => Promise<void>): CommandSpec {
  const [name, arity, flags, firstKey, lastKey, step, group, since, summary, subcommands] = meta;
  return {
    name,
    arity,
    flags: flags === "" ? [] : flags.split(" "),
    firstKey,
    lastKey,
    step,
    group,
    summary,
    since,
    ...(subcommands !== undefined ? { subcommands } : {}),
    handler: () => {
      // The dispatcher awaits `load` first; a caller that does not is a bug.
      throw new Error(`Command ${name} called before its module was loaded`);
    },
    load,
  };
}

/**
 * Builds the table of every supported command (stubs for the groups loaded on first use).
 * `prepare` holds what a group needs besides its module (the server's time-series layer, which
 * opens on first use too); a group loads once both are ready.
 */
export function buildCommandTable(
  prepare: Partial<Record<LazyGroup, () => Promise<unknown>>> = {},
): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  const add = (specs: CommandSpec[]) => {
    for (const s of specs) table.set(s.name, guardReadOnly(s));
  };
  for (const part of ORDER) {
    if (part === "server") add(serverCommands(table));
    else if (typeof part !== "string") add(part);
    else {
      let loading: Promise<void> | undefined;
      // One import per group and table; the real specs replace the stubs in place (a Map keeps
      // the first insertion's position), so commands already looked up find them next time.
      const load = () =>
        loading ??= Promise.all([LAZY_GROUPS[part](), prepare[part]?.()]).then(([specs]) =>
          add(specs)
        );
      for (const meta of LAZY_SPECS[part]) table.set(meta[0], stub(meta, load));
    }
  }
  return table;
}

export { countKeys } from "./keys.ts";
export { expireAtFromArg, putOp } from "./expiry.ts";
