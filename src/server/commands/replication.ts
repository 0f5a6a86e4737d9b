/**
 * Replication commands: `REPLICATION LIST` and `REPLICATION FORGET <replica-id>` (a leader
 * stops pinning WAL for a replica that will never return), and the read-only guard a replica
 * puts in front of every write command. The role comes from `src/replication/hooks.ts`.
 *
 * @module
 */

import { replicationRoleOf } from "../../replication/hooks.ts";
import { type CommandContext, type CommandSpec, lower, ReplyError, text } from "../context.ts";

/** Redis's exact reply to a write on a read-only replica. */
export const ERR_READONLY = "READONLY You can't write against a read only replica.";

async function replication(ctx: CommandContext): Promise<void> {
  const sub = lower(ctx.args[1]!);
  const role = replicationRoleOf(ctx.server.db);
  if (sub === "list" && ctx.args.length === 2) {
    const lines = role?.listReplicas() ?? [];
    ctx.out.array(lines.length);
    for (const line of lines) ctx.out.bulk(line);
    return;
  }
  if (sub === "forget" && ctx.args.length === 3) {
    if (role?.role !== "leader") throw new ReplyError("ERR this server is not a leader");
    const id = text(ctx.args[2]!);
    const forgotten = await role.forgetReplica(id);
    if (forgotten) {
      ctx.server.logger("warn", "replica forgotten", { replica: id, client: ctx.client.id });
    }
    ctx.out.integer(forgotten ? 1 : 0);
    return;
  }
  throw new ReplyError(
    `ERR unknown subcommand or wrong number of arguments for 'replication|${sub}' command`,
  );
}

/** The REPLICATION command. */
export const REPLICATION_COMMANDS: CommandSpec[] = [{
  name: "replication",
  arity: -2,
  flags: ["admin", "noscript", "loading", "stale"],
  firstKey: 0,
  lastKey: 0,
  step: 0,
  group: "server",
  since: "7.0.0",
  summary: "Lists the replicas a CityHall leader knows, or forgets one (CityHall).",
  handler: replication,
}];

/** Wraps write commands so that a read-only database (a replica) answers `-READONLY`. */
export function guardReadOnly(spec: CommandSpec): CommandSpec {
  if (!spec.flags.includes("write")) return spec;
  const handler = spec.handler;
  return {
    ...spec,
    handler: (ctx) => {
      if (ctx.server.db.readOnly) throw new ReplyError(ERR_READONLY);
      return handler(ctx);
    },
  };
}
