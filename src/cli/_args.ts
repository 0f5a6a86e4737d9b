/**
 * Flag parsing for every `cityhall` command, on top of `_flag_scan.ts` (`@std/cli/parse-args`'s
 * rules, without loading an npm package at start), with the rules
 * the commands share: flags may come before or after positional arguments, unknown flags are
 * usage errors (exit 2), `--` ends the flags, and positional values are never reinterpreted
 * (`-3.5`, `true` and `007` stay the strings they were).
 *
 * @module
 */

import { scanFlags } from "./_flag_scan.ts";

/** Exit code of a usage error (bad flag, missing argument), as BSD `EX_USAGE`-like tools use. */
export const EXIT_USAGE = 2;

/** A wrong command line: the message is printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error for `command` (e.g. `serve`) with `message`. */
  constructor(readonly command: string, message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Which flags a command takes. Names are given without dashes. */
export interface FlagSpec {
  /** Flags that take a value (`--port 7878` or `--port=7878`). */
  string?: readonly string[];
  /** Flags without a value (`--json`). */
  boolean?: readonly string[];
  /** Short forms, e.g. `{ h: "help" }`. */
  alias?: Readonly<Record<string, string>>;
}

/** Parsed flags and positional arguments. */
export interface ParsedArgs {
  /** Value flags that were given (last one wins). */
  strings: Map<string, string>;
  /** Every value of each value flag given, in order (repeatable flags: `--remote-write`). */
  lists?: Map<string, string[]>;
  /** Boolean flags that were given. */
  booleans: Set<string>;
  /** Positional arguments in order. */
  positionals: string[];
}

/**
 * Value flags whose value may be left out, and the value they then take: `serve --self-metrics`
 * is `--self-metrics=10s`. A bare one is followed by nothing or by another flag.
 */
export const OPTIONAL_VALUE_FLAGS: Readonly<Record<string, string>> = { "self-metrics": "10s" };

/** Prefix of the placeholders that hide positional values from the scanner. */
const HIDDEN = "\u0000";

/** True for a token the scanner would read as a flag (a negative number is a value). */
function looksLikeFlag(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-") && !/^-\d/.test(arg);
}

/**
 * Parses `args` for `command`. Throws `UsageError` on an unknown flag or a value flag
 * without a value.
 */
export function parseFlags(command: string, args: readonly string[], spec: FlagSpec): ParsedArgs {
  const stringFlags = new Set(spec.string ?? []);
  const booleanFlags = new Set([...(spec.boolean ?? []), "help"]);
  const alias: Record<string, string> = { h: "help", ...spec.alias };
  // Every token that is not a flag is replaced by a placeholder so the scanner neither turns
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
  const scanned = scanFlags(masked, { string: stringFlags, boolean: booleanFlags, alias });
  if (scanned.unknown.length > 0) {
    throw new UsageError(command, `unknown flag ${scanned.unknown[0]}`);
  }
  const strings = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const name of stringFlags) {
    const values = scanned.values.get(name) ?? [];
    if (values.length === 0) continue;
    const all = values.map((value) => {
      const v = unhide(value);
      if (v === "") {
        throw new UsageError(command, `flag --${name} needs a value`);
      }
      return v;
    });
    strings.set(name, all[all.length - 1]!);
    lists.set(name, all);
  }
  const booleans = new Set<string>();
  for (const name of booleanFlags) if (scanned.booleans.get(name) === true) booleans.add(name);
  return { strings, lists, booleans, positionals: scanned.positionals.map(unhide) };
}

/** Reads an integer flag in `[min, max]`; `undefined` when the flag was not given. */
export function intFlag(
  command: string,
  parsed: ParsedArgs,
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const raw = parsed.strings.get(name);
  if (raw === undefined) return undefined;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(
      command,
      `invalid --${name} ${
        JSON.stringify(raw)
      }: must be an integer from ${range.min} to ${range.max}`,
    );
  }
  return n;
}

/** Value flags every command that reaches a server or a data directory accepts. */
export const GLOBAL_VALUE_FLAGS: readonly string[] = [
  "data-dir",
  "host",
  "port",
  "auth-token-file",
];

/**
 * Splits the command line into the command name and the rest, letting global flags come
 * first (`cityhall --data-dir D put k v`): leading flags are skipped (with the value of those
 * in `GLOBAL_VALUE_FLAGS`) and handed to the command with the rest.
 */
export function splitCommand(args: readonly string[]): { command?: string; rest: string[] } {
  const leading: string[] = [];
  let i = 0;
  while (i < args.length && looksLikeFlag(args[i]!) && args[i] !== "--") {
    const arg = args[i]!;
    leading.push(arg);
    i++;
    const name = arg.replace(/^--?/, "");
    if (GLOBAL_VALUE_FLAGS.includes(name) && i < args.length) leading.push(args[i++]!);
  }
  if (i >= args.length) return { rest: leading };
  return { command: args[i]!, rest: [...leading, ...args.slice(i + 1)] };
}
