/**
 * What the dispatcher does after a command of a client with CLIENT TRACKING on (it calls this
 * only then: one field comparison per command otherwise). Loaded with CLIENT TRACKING's module,
 * which installs it as `TrackingTable.afterCommand`. ARCHITECTURE.md § "Client-side caching
 * (CLIENT TRACKING)".
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "./context.ts";
import { commandKeys, hasMovableKeys } from "./commands/command_getkeys.ts";
import { TxnContext } from "./transaction.ts";

/**
 * After `spec` ran with `args` for a tracking client: a read command's keys are remembered
 * (default mode), and CLIENT CACHING's one-command flag is spent, as Redis does: kept through
 * CLIENT commands, MULTI's queueing and the commands EXEC runs, dropped after anything else.
 */
export function afterTrackedCommand(
  ctx: CommandContext,
  spec: CommandSpec,
  args: Uint8Array[],
  table: ReadonlyMap<string, CommandSpec>,
): void {
  const client = ctx.client;
  const t = client.tracking!;
  if (!t.bcast && spec.flags.includes("readonly")) {
    const keys = readKeys(spec, args, table);
    if (keys.length > 0) ctx.server.tracking.remember(client, keys);
  }
  if (
    t.caching && !(ctx instanceof TxnContext) && spec.name !== "client" &&
    client.multi === undefined
  ) {
    t.caching = false;
  }
}

/** The key arguments of a command line, as COMMAND GETKEYS finds them; none when it has none. */
function readKeys(
  spec: CommandSpec,
  args: Uint8Array[],
  table: ReadonlyMap<string, CommandSpec>,
): Uint8Array[] {
  if (spec.firstKey <= 0 && !hasMovableKeys(spec.name) && spec.name !== "object") return [];
  try {
    return commandKeys(table, args);
  } catch {
    // Arguments whose keys cannot be found (the command failed on them too): nothing to track.
    return [];
  }
}
