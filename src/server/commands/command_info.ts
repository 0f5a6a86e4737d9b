/**
 * COMMAND (COUNT LIST INFO DOCS GETKEYS HELP): the command table as Redis 7.0 describes its own.
 * Loaded with the first COMMAND call (`_lazy_handler.ts`; its table entry is in `server.ts`).
 *
 * @module
 */

import {
  arityError,
  type CommandContext,
  type CommandHandler,
  type CommandSpec,
  echoArg,
  ERR_SYNTAX,
  lower,
  ReplyError,
} from "../context.ts";
import { globMatch } from "../glob.ts";
import { commandKeys, hasMovableKeys } from "./command_getkeys.ts";

const encoder = new TextEncoder();

// ---------------------------------------------------------------- COMMAND

/** Redis's ACL categories in the order `COMMAND INFO` lists them (`ACLCommandCategories`). */
const ACL_CATEGORY_ORDER = [
  "keyspace",
  "read",
  "write",
  "set",
  "sortedset",
  "list",
  "hash",
  "string",
  "bitmap",
  "hyperloglog",
  "geo",
  "stream",
  "pubsub",
  "admin",
  "fast",
  "slow",
  "blocking",
  "dangerous",
  "connection",
  "transaction",
  "scripting",
];

/** Command groups that are also ACL categories (`generic` commands are `@keyspace`). */
const GROUP_CATEGORY: Record<string, string> = {
  generic: "keyspace",
  string: "string",
  connection: "connection",
  transactions: "transaction",
  pubsub: "pubsub",
  bitmap: "bitmap",
};

/**
 * A command's ACL categories as Redis derives them: its group's category, `write`/`read`/
 * `fast` from the flags, `admin` + `dangerous` for admin commands, `slow` when not fast.
 */
export function aclCategories(c: CommandSpec): string[] {
  const cats = new Set<string>();
  const group = GROUP_CATEGORY[c.group];
  if (group !== undefined) cats.add(group);
  if (c.flags.includes("write")) cats.add("write");
  if (c.flags.includes("readonly")) cats.add("read");
  if (c.flags.includes("admin")) {
    cats.add("admin");
    cats.add("dangerous");
  }
  cats.add(c.flags.includes("fast") ? "fast" : "slow");
  return ACL_CATEGORY_ORDER.filter((a) => cats.has(a)).map((a) => `@${a}`);
}

function writeCommandInfo(ctx: CommandContext, c: CommandSpec): void {
  const out = ctx.out;
  out.array(10);
  out.bulk(c.name);
  out.integer(c.arity);
  const flags = hasMovableKeys(c.name) && !c.flags.includes("movablekeys")
    ? [...c.flags, "movablekeys"]
    : c.flags;
  out.set(flags.length);
  for (const f of flags) out.simple(f);
  out.integer(c.firstKey);
  out.integer(c.lastKey);
  out.integer(c.step);
  const categories = aclCategories(c);
  out.set(categories.length);
  for (const a of categories) out.simple(a);
  out.set(0);
  out.array(0);
  out.array(0);
}

function writeCommandDocs(ctx: CommandContext, c: CommandSpec): void {
  const out = ctx.out;
  out.bulk(c.name);
  out.map(4);
  out.bulk("summary");
  out.bulk(c.summary);
  out.bulk("since");
  out.bulk(c.since);
  out.bulk("group");
  out.bulk(c.group);
  out.bulk("complexity");
  out.bulk(c.firstKey !== 0 && c.lastKey === -1 ? "O(N) where N is the number of keys" : "O(1)");
}

/** COMMAND over `table` (which includes COMMAND itself). */
export function commandCommand(table: Map<string, CommandSpec>): CommandHandler {
  return (ctx: CommandContext): void => {
    const { args, out } = ctx;
    const all = [...table.values()];
    if (args.length === 1) {
      out.array(all.length);
      for (const c of all) writeCommandInfo(ctx, c);
      return;
    }
    const sub = lower(args[1]!);
    const names = args.slice(2).map(lower);
    switch (sub) {
      case "count":
        if (args.length !== 2) throw arityError("command|count");
        return out.integer(all.length);
      case "list": {
        // COMMAND LIST [FILTERBY MODULE m | ACLCAT cat | PATTERN p], parsed like Redis 7. As
        // Redis, the list names subcommands too (`config|get`), and PATTERN matches those full
        // names; ACLCAT matches commands only (subcommands carry no flags of their own here).
        let keep: (c: CommandSpec) => boolean = () => true;
        let keepSub: (full: string) => boolean = () => true;
        for (let i = 2; i < args.length; i++) {
          if (lower(args[i]!) !== "filterby" || args.length - 1 - i !== 2) {
            throw new ReplyError(ERR_SYNTAX);
          }
          const kind = lower(args[i + 1]!);
          const arg = args[i + 2]!;
          if (kind === "module") {
            keep = () => false;
            keepSub = () => false;
          } else if (kind === "aclcat") {
            const cat = `@${lower(arg)}`;
            keep = (c) => aclCategories(c).includes(cat);
            keepSub = () => false;
          } else if (kind === "pattern") {
            keep = (c) => globMatch(arg, encoder.encode(c.name), true);
            keepSub = (full) => globMatch(arg, encoder.encode(full), true);
          } else throw new ReplyError(ERR_SYNTAX);
          i += 2;
        }
        const picked: string[] = [];
        for (const c of all) {
          if (keep(c)) picked.push(c.name);
          for (const sub of Object.keys(c.subcommands ?? {})) {
            const full = `${c.name}|${sub}`;
            if (keepSub(full)) picked.push(full);
          }
        }
        out.array(picked.length);
        for (const name of picked) out.bulk(name);
        return;
      }
      case "info": {
        const picked = names.length === 0 ? all : names.map((n) => table.get(n));
        out.array(picked.length);
        for (const c of picked) {
          if (c === undefined) out.null(); // Redis: addReplyNull, `$-1` in RESP2
          else writeCommandInfo(ctx, c);
        }
        return;
      }
      case "docs": {
        const picked = names.length === 0
          ? all
          : names.map((n) => table.get(n)).filter((c) => c !== undefined);
        out.map(picked.length);
        for (const c of picked) writeCommandDocs(ctx, c);
        return;
      }
      case "getkeys": {
        if (args.length < 4) throw arityError("command|getkeys"); // Redis 7.0: arity -4
        const keys = commandKeys(table, args.slice(2));
        out.array(keys.length);
        for (const k of keys) out.bulk(k);
        return;
      }
      case "help":
        if (args.length !== 2) throw arityError("command|help");
        out.array(5);
        out.simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        out.simple("(no subcommand), COUNT, DOCS [<command-name> ...], INFO [<command-name> ...]");
        out.simple("GETKEYS <full-command>");
        out.simple("LIST");
        out.simple("HELP");
        return;
      default:
        throw new ReplyError(
          `ERR unknown subcommand '${echoArg(args[1]!, 128)}'. Try COMMAND HELP.`,
        );
    }
  };
}
