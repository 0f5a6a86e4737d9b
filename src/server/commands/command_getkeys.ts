/**
 * COMMAND GETKEYS: which arguments of a command line are keys, as Redis 7.0 answers it for
 * proxies and cluster clients. Most commands name their keys by position (`firstKey`,
 * `lastKey`, `step` of the command table); the ones whose keys move with their arguments
 * (a `numkeys` count, SORT ... STORE, a container's subcommand) are resolved here.
 *
 * @module
 */

import { type CommandSpec, lower, ReplyError, text } from "../context.ts";

/** Where a `numkeys` command keeps its count, and keys that come before it. */
interface KeyCount {
  /** Argument index of the count (the command name is 0). */
  countAt: number;
  /** Key arguments before the count (ZUNIONSTORE's destination). */
  fixed: number[];
}

/** Commands whose keys are counted by a `numkeys` argument. */
const KEY_COUNTS: Readonly<Record<string, KeyCount>> = {
  zunionstore: { countAt: 2, fixed: [1] },
  zinterstore: { countAt: 2, fixed: [1] },
  zdiffstore: { countAt: 2, fixed: [1] },
  zunion: { countAt: 1, fixed: [] },
  zinter: { countAt: 1, fixed: [] },
  zdiff: { countAt: 1, fixed: [] },
  zintercard: { countAt: 1, fixed: [] },
  sintercard: { countAt: 1, fixed: [] },
  lmpop: { countAt: 1, fixed: [] },
  zmpop: { countAt: 1, fixed: [] },
  blmpop: { countAt: 2, fixed: [] },
  bzmpop: { countAt: 2, fixed: [] },
};

/** Container subcommands whose key is the argument after the subcommand. */
const SUBCOMMAND_KEY: Readonly<Record<string, readonly string[]>> = {
  memory: ["usage"],
  object: ["encoding", "freq", "idletime", "refcount"],
};

/** True when the command's keys are not at fixed positions (COMMAND INFO's `movablekeys`). */
export function hasMovableKeys(name: string): boolean {
  return name in KEY_COUNTS || name === "sort" || name === "sort_ro";
}

const INVALID_ARGS = "ERR Invalid arguments specified for command";

/**
 * The key arguments of the command line `line` (its name first), or a `ReplyError` with
 * Redis's text: an unknown command, one without keys, a wrong argument count, or arguments
 * whose key count does not fit.
 */
export function commandKeys(
  table: ReadonlyMap<string, CommandSpec>,
  line: Uint8Array[],
): Uint8Array[] {
  const name = lower(line[0]!);
  const spec = table.get(name);
  if (spec === undefined) throw new ReplyError("ERR Invalid command specified");
  const sub = SUBCOMMAND_KEY[name];
  const hasKeys = spec.firstKey > 0 || name in KEY_COUNTS || sub !== undefined;
  if (!hasKeys) throw new ReplyError("ERR The command has no key arguments");
  const n = line.length;
  if ((spec.arity > 0 && spec.arity !== n) || n < -spec.arity) {
    throw new ReplyError("ERR Invalid number of arguments specified for command");
  }
  const at = positions(name, spec, line);
  if (at.length === 0) throw new ReplyError(INVALID_ARGS);
  return at.map((i) => line[i]!);
}

function positions(name: string, spec: CommandSpec, line: Uint8Array[]): number[] {
  const n = line.length;
  const counted = KEY_COUNTS[name];
  if (counted !== undefined) {
    const raw = text(line[counted.countAt]!);
    const count = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    const first = counted.countAt + 1;
    if (!(count > 0) || first + count > n) throw new ReplyError(INVALID_ARGS);
    const at = [...counted.fixed];
    for (let i = 0; i < count; i++) at.push(first + i);
    return at;
  }
  const sub = SUBCOMMAND_KEY[name];
  if (sub !== undefined) {
    if (n < 3 || !sub.includes(lower(line[1]!))) throw new ReplyError(INVALID_ARGS);
    return [2];
  }
  const at: number[] = [];
  const last = spec.lastKey < 0 ? n + spec.lastKey : spec.lastKey;
  const step = Math.max(1, spec.step);
  for (let i = spec.firstKey; i <= last && i < n; i += step) at.push(i);
  if (name === "sort") {
    // SORT's destination follows its last STORE, as SORT itself reads it. BY and GET take one
    // argument and LIMIT two, so a pattern spelled "store" is not mistaken for the option.
    let store = 0;
    for (let i = 2; i < n; i++) {
      const option = lower(line[i]!);
      if (option === "limit") i += 2;
      else if (option === "by" || option === "get") i += 1;
      else if (option === "store" && i + 1 < n) store = i + 1;
    }
    if (store > 0) at.push(store);
  }
  return at;
}
