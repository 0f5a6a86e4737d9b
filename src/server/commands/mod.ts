/**
 * The command table: every command the RESP server runs, by lowercase name.
 *
 * @module
 */

import type { CommandSpec } from "../context.ts";
import { BIT_COMMANDS } from "./bits.ts";
import { CLIENT_COMMANDS } from "./client.ts";
import { CONNECTION_COMMANDS } from "./connection.ts";
import { EXPIRY_COMMANDS } from "./expiry.ts";
import { INTROSPECTION_COMMANDS } from "./introspection.ts";
import { HASH_COMMANDS } from "./hash.ts";
import { KEY_COMMANDS } from "./keys.ts";
import { LCS_COMMANDS } from "./lcs.ts";
import { PUBSUB_COMMANDS } from "./pubsub.ts";
import { SET_COMMANDS } from "./set.ts";
import { SORT_COMMANDS } from "./sort.ts";
import { DUMP_COMMANDS } from "./dump.ts";
import { LIST_COMMANDS } from "./list.ts";
import { BLOCKING_COMMAND_SPECS } from "./blocking.ts";
import { ZSET_COMMANDS } from "./zset.ts";
import { ZSET_ALGEBRA_COMMANDS } from "./zset_algebra.ts";
import { ZSET_RANGE_COMMANDS } from "./zset_range.ts";
import { guardReadOnly, REPLICATION_COMMANDS } from "./replication.ts";
import { serverCommands } from "./server.ts";
import { STRING_COMMANDS } from "./strings.ts";
import { TRANSACTION_COMMANDS } from "../transaction.ts";
import { TIMESERIES_WRITE_COMMANDS } from "./timeseries.ts";
import { TIMESERIES_READ_COMMANDS } from "./timeseries_query.ts";

/** Builds the table of every supported command. */
export function buildCommandTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  const add = (specs: CommandSpec[]) => {
    for (const s of specs) table.set(s.name, guardReadOnly(s));
  };
  add(CONNECTION_COMMANDS);
  add(STRING_COMMANDS);
  add(KEY_COMMANDS);
  add(EXPIRY_COMMANDS);
  add(serverCommands(table));
  add(REPLICATION_COMMANDS);
  add(TRANSACTION_COMMANDS);
  add(TIMESERIES_WRITE_COMMANDS);
  add(TIMESERIES_READ_COMMANDS);
  add(CLIENT_COMMANDS);
  add(PUBSUB_COMMANDS);
  add(BIT_COMMANDS);
  add(LCS_COMMANDS);
  add(INTROSPECTION_COMMANDS);
  add(HASH_COMMANDS);
  add(SET_COMMANDS);
  add(LIST_COMMANDS);
  add(BLOCKING_COMMAND_SPECS);
  add(ZSET_COMMANDS);
  add(ZSET_RANGE_COMMANDS);
  add(ZSET_ALGEBRA_COMMANDS);
  add(SORT_COMMANDS);
  add(DUMP_COMMANDS);
  return table;
}

export { clientInfoLine } from "./client.ts";
export { countKeys } from "./keys.ts";
export { expireAtFromArg, putOp } from "./expiry.ts";
