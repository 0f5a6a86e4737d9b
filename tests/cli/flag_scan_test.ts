/**
 * The flag scanner (`src/cli/_flag_scan.ts`) against `@std/cli/parse-args`, which `parseFlags`
 * was built on until `serve` stopped loading npm packages at start: on seeded random command
 * lines (known and unknown long and short flags, `=` values, `--no-` forms, glued short
 * values, `--`, and values that look like numbers, booleans or flags), `parseFlags` gives what
 * the parse-args version gave, or the same usage error.
 */

import { assertEquals } from "@std/assert";
import { parseArgs } from "@std/cli/parse-args";
import {
  type FlagSpec,
  OPTIONAL_VALUE_FLAGS,
  type ParsedArgs,
  parseFlags,
  UsageError,
} from "../../src/cli/_args.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";

/** Prefix of the placeholders (as in `_args.ts`). */
const HIDDEN = "\u0000";

/** As in `_args.ts`. */
function looksLikeFlag(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-") && !/^-\d/.test(arg);
}

/** `parseFlags` as it was, on `@std/cli/parse-args`: the reference. */
function referenceParseFlags(
  command: string,
  args: readonly string[],
  spec: FlagSpec,
): ParsedArgs {
  const stringFlags = new Set(spec.string ?? []);
  const booleanFlags = new Set([...(spec.boolean ?? []), "help"]);
  const alias: Record<string, string> = { h: "help", ...spec.alias };
  // Every token that is not a flag is replaced by a placeholder so parseArgs neither turns
  // numbers into numbers, nor takes `true`/`false` as a boolean flag's value, nor reads
  // `-5` as a flag. The placeholders are mapped back below.
  const hidden: string[] = [];
  let afterDoubleDash = false;
  const masked = args.map((arg, i) => {
    const bare = arg.startsWith("--") ? OPTIONAL_VALUE_FLAGS[arg.slice(2)] : undefined;
    if (
      !afterDoubleDash && bare !== undefined && stringFlags.has(arg.slice(2)) &&
      (i + 1 >= args.length || looksLikeFlag(args[i + 1]!))
    ) {
      return `${arg}=${bare}`;
    }
    if (arg === "--" && !afterDoubleDash) {
      afterDoubleDash = true;
      return arg;
    }
    if (!afterDoubleDash && looksLikeFlag(arg)) return arg;
    hidden.push(arg);
    return `${HIDDEN}${hidden.length - 1}`;
  });
  const unhide = (value: string): string => {
    if (!value.startsWith(HIDDEN)) return value;
    const original = hidden[Number(value.slice(HIDDEN.length))];
    return original ?? value;
  };
  const unknown: string[] = [];
  const parsed = parseArgs(masked, {
    string: [...stringFlags, "_"],
    collect: [...stringFlags],
    boolean: [...booleanFlags],
    alias,
    unknown: (arg: string, key?: string) => {
      if (key === undefined) return true;
      unknown.push(arg.split("=")[0]!);
      return false;
    },
  }) as Record<string, unknown> & { _: string[] };
  if (unknown.length > 0) {
    throw new UsageError(command, `unknown flag ${unknown[0]}`);
  }
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const name of stringFlags) {
    const given = parsed[name];
    const values = given === undefined ? [] : Array.isArray(given) ? given : [given];
    if (values.length === 0) continue;
    const all = values.map((value) => {
      const v = unhide(String(value));
      if (v === "") {
        throw new UsageError(command, `flag --${name} needs a value`);
      }
      return v;
    });
    strings.set(name, all[all.length - 1]!);
    lists.set(name, all);
  }
  const booleans = new Set<string>();
  for (const name of booleanFlags) if (parsed[name] === true) booleans.add(name);
  return { strings, lists, booleans, positionals: parsed._.map((p) => unhide(String(p))) };
}

const SPEC: FlagSpec = {
  string: ["port", "data-dir", "self-metrics", "remote-write", "x"],
  boolean: ["json", "no-http", "direct", "y"],
};

const WORDS = [
  "port",
  "data-dir",
  "self-metrics",
  "remote-write",
  "json",
  "no-http",
  "http",
  "direct",
  "help",
  "h",
  "x",
  "y",
  "z",
  "bogus",
  "no-json",
  "no-",
  "=",
  "a=b",
  "p",
];
const VALUES = ["v", "", "-3.5", "7", "007", "true", "false", "-", "---x", "-x", "a=b", "=", "1e5"];
const SHORT = [
  "h",
  "x",
  "y",
  "z",
  "p",
  "hx",
  "xh",
  "hy",
  "h5",
  "x5",
  "h=1",
  "x=",
  "h-",
  "x-",
  "h.5",
  "hx=v",
  "x,y",
  "xh-",
];

/** A random command-line token. */
function token(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return `--${rng.pick(WORDS)}`;
    case 1:
      return `--${rng.pick(WORDS)}=${rng.pick(VALUES)}`;
    case 2:
      return `-${rng.pick(SHORT)}`;
    case 3:
      return "--";
    default:
      return rng.pick(VALUES);
  }
}

/** The outcome of one parse: its result or its usage error. */
function outcome(parse: () => ParsedArgs): unknown {
  try {
    const p = parse();
    return {
      strings: [...p.strings],
      lists: [...(p.lists ?? new Map())],
      booleans: [...p.booleans].sort(),
      positionals: p.positionals,
    };
  } catch (err) {
    if (err instanceof UsageError) return `usage: ${err.message}`;
    throw err;
  }
}

Deno.test("parseFlags gives what it gave on @std/cli/parse-args, on random command lines", () => {
  const seed = seedFromEnv();
  const cases = intFromEnv("CITYHALL_FLAG_CASES", 3_000);
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay), ${cases} cases`);
  const rng = new Rng(seed);
  for (let n = 0; n < cases; n++) {
    const args = Array.from({ length: rng.int(6) }, () => token(rng));
    assertEquals(
      outcome(() => parseFlags("serve", args, SPEC)),
      outcome(() => referenceParseFlags("serve", args, SPEC)),
      JSON.stringify(args),
    );
  }
});
