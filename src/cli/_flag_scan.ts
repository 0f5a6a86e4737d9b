/**
 * The flag scanner under `parseFlags` (`_args.ts`): it reads a command line whose positional
 * values `parseFlags` has already replaced by placeholders, with the rules of
 * `@std/cli/parse-args` that such a line can meet (tests/cli/flag_scan_test.ts compares the two
 * on random command lines). CityHall's own, so that `serve` loads no npm package at start: the
 * first one costs ~1 MiB of an idle server's RSS in Deno's npm resolver (ARCHITECTURE.md
 * § "Memory").
 *
 * The rules, for the tokens before the first `--` (those after it are positional):
 * - `--name=value` sets `name` (a boolean flag to false when the value is `false`, else true;
 *   `--no-name=value` sets `name`, not `no-name`);
 * - `--name` (or `--no-name`, which names the flag `no-name`) takes the next token as its value
 *   when `name` is not a boolean flag and the next token does not start with `-`; a value flag
 *   without one is given the empty value, a boolean flag is set;
 * - `-abc` sets `a` and `b`, and `c` as `--c` would (next token and all); a letter followed by
 *   `=value`, by a number or by a character that is not a word character takes the rest of the
 *   token as its value; a `-` or `=` alone after a letter is its value;
 * - an unknown name is reported with its token up to the first `=`, and nothing is set.
 *
 * @module
 */

/** What the scanner knows of a command's flags. */
export interface ScanSpec {
  /** Flags that take a value. */
  string: ReadonlySet<string>;
  /** Flags without a value. */
  boolean: ReadonlySet<string>;
  /** Short forms and their flags (`h` for `help`), both ways. */
  alias: Readonly<Record<string, string>>;
}

/** What the scanner found. */
export interface Scanned {
  /** Every value of each value flag, in order, under the flag's own name. */
  values: Map<string, string[]>;
  /** The last setting of each boolean flag given, under the flag's own name. */
  booleans: Map<string, boolean>;
  /** Positional tokens in order (those after `--` last). */
  positionals: string[];
  /** Tokens with an unknown flag name, up to the first `=`, in order. */
  unknown: string[];
}

/** The letters a short flag may take a glued value after (`-p=5`, `-n5`). */
const LETTER = /[A-Za-z]/;
/** A short flag's glued value after `=`: the text after the first `=` that has any. */
const GLUED_VALUE = /=(.+)/;
/** A short flag's glued number: the token ends in one. */
const ENDS_IN_NUMBER = /-?\d+(\.\d*)?(e-?\d+)?$/;
/** After a short flag: a token that starts with one or two dashes and then something else. */
const DASHED = /^(-|--)[^-]/;
/** Not a word character: what makes the rest of a short flag's token its value. */
const NON_WORD = /\W/;

/** Scans `tokens` (see the module comment). */
export function scanFlags(tokens: readonly string[], spec: ScanSpec): Scanned {
  const out: Scanned = { values: new Map(), booleans: new Map(), positionals: [], unknown: [] };
  const name = (key: string): string =>
    spec.string.has(key) || spec.boolean.has(key) ? key : spec.alias[key] ?? key;
  const isBoolean = (key: string): boolean => spec.boolean.has(name(key));
  const isString = (key: string): boolean => spec.string.has(name(key));
  const set = (key: string, value: string | boolean, token: string): void => {
    const flag = name(key);
    if (spec.boolean.has(flag)) {
      out.booleans.set(flag, value === true);
    } else if (spec.string.has(flag)) {
      const list = out.values.get(flag);
      if (list === undefined) out.values.set(flag, [String(value)]);
      else list.push(String(value));
    } else {
      out.unknown.push(token.split("=")[0]!);
    }
  };
  /** Sets `key` from the token after `i` when it may be its value; returns the next index. */
  const withNext = (key: string, i: number, token: string, valueLike: boolean): number => {
    const next = tokens[i + 1];
    if (next !== undefined && next !== "" && i + 1 < end) {
      if (!isBoolean(key) && valueLike) {
        set(key, next, token);
        return i + 1;
      }
      if (next === "true" || next === "false") {
        set(key, next !== "false", token);
        return i + 1;
      }
    }
    set(key, isString(key) ? "" : true, token);
    return i;
  };
  const dashDash = tokens.indexOf("--");
  const end = dashDash < 0 ? tokens.length : dashDash;
  for (let i = 0; i < end; i++) {
    const token = tokens[i]!;
    if (!token.startsWith("-") || token.length < 2) {
      out.positionals.push(token);
      continue;
    }
    const next = tokens[i + 1];
    if (token.startsWith("--")) {
      let rest = token.slice(2);
      // `no-` negates only when a name follows it.
      const negated = rest.startsWith("no-") && rest.length > 3;
      if (negated) rest = rest.slice(3);
      // The name has at least one character, so an `=` first is part of it.
      const eq = rest.indexOf("=", 1);
      if (eq >= 0) {
        const value = rest.slice(eq + 1);
        const key = rest.slice(0, eq);
        set(key, isBoolean(key) ? value !== "false" : value, token);
        continue;
      }
      const key = negated ? `no-${rest}` : rest;
      i = withNext(key, i, token, next !== undefined && !next.startsWith("-"));
      continue;
    }
    const letters = token.slice(1, -1);
    let whole = false;
    for (let j = 0; j < letters.length; j++) {
      const letter = letters[j]!;
      const rest = token.slice(j + 2);
      if (rest === "-") {
        set(letter, rest, token);
        continue;
      }
      if (rest === "=") {
        set(letter, "", token);
        whole = true;
        break;
      }
      if (LETTER.test(letter)) {
        const glued = GLUED_VALUE.exec(rest);
        if (glued !== null) {
          set(letter, glued[1]!, token);
          whole = true;
          break;
        }
        if (ENDS_IN_NUMBER.test(rest)) {
          set(letter, rest, token);
          whole = true;
          break;
        }
      }
      const after = letters[j + 1];
      if (after !== undefined && NON_WORD.test(after)) {
        set(letter, rest, token);
        whole = true;
        break;
      }
      set(letter, isString(letter) ? "" : true, token);
    }
    if (whole) continue;
    const key = token.slice(-1);
    if (key === "-") continue;
    i = withNext(key, i, token, next !== undefined && !DASHED.test(next));
  }
  if (dashDash >= 0) out.positionals.push(...tokens.slice(dashDash + 1));
  return out;
}
