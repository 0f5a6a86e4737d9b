/**
 * RE2 regular expressions (Go's `regexp/syntax`, what Prometheus uses) translated to JavaScript
 * `RegExp`, fully anchored as Prometheus anchors them: `^(?:re)$` (ARCHITECTURE.md § "PromQL
 * engine").
 *
 * The translation keeps RE2's meaning where JavaScript differs:
 * - `.` matches any character but `\n` (JavaScript also excludes `\r`, U+2028, U+2029); under
 *   `(?s)` it matches everything;
 * - `\s` is `[\t\n\f\r ]` (JavaScript adds `\v` and Unicode spaces);
 * - `\A` and `\z` are the text's start and end; `\Q…\E` quotes; `\pN`, `\p{Greek}` are
 *   Unicode classes; `[[:alpha:]]` POSIX classes; `\x{10FFFF}` code points;
 * - `(?i)`-style flags apply to the rest of the enclosing group; `(?P<name>…)` names a group;
 * - a `{` that does not start a valid repetition, and a lone `]` or `}`, are literals;
 * - backreferences and lookaround do not exist in RE2 and are refused, as Go refuses them.
 * The result uses the `u` flag, so `.` and classes work on code points like Go's runes.
 *
 * JavaScript's engine backtracks where RE2 does not: a pathological pattern can take
 * exponential time. Patterns come from authenticated users and are bounded in length
 * (`PROMQL_REGEX_BYTES_MAX`).
 *
 * @module
 */

import { PROMQL_REGEX_BYTES_MAX } from "../limits.ts";

const POSIX_CLASSES: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7f",
  blank: "\\t ",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\x2f:-@\\x5b-`\\x7b-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

const GENERAL_CATEGORIES = new Set([
  "C",
  "Cc",
  "Cf",
  "Co",
  "Cs",
  "L",
  "Ll",
  "Lm",
  "Lo",
  "Lt",
  "Lu",
  "M",
  "Mc",
  "Me",
  "Mn",
  "N",
  "Nd",
  "Nl",
  "No",
  "P",
  "Pc",
  "Pd",
  "Pe",
  "Pf",
  "Pi",
  "Po",
  "Ps",
  "S",
  "Sc",
  "Sk",
  "Sm",
  "So",
  "Z",
  "Zl",
  "Zp",
  "Zs",
]);

const cache = new Map<string, RegExp>();
const CACHE_ENTRIES_MAX = 1000;

/** Compiles an RE2 pattern anchored at both ends; throws `SyntaxError` naming the problem. */
export function compileRe2(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  if (pattern.length > PROMQL_REGEX_BYTES_MAX) {
    throw new SyntaxError(
      `error parsing regexp: pattern too long: ${pattern.length} characters (limit ${PROMQL_REGEX_BYTES_MAX})`,
    );
  }
  const body = translateRe2(pattern);
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${body})$`, "u");
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new SyntaxError(
      `error parsing regexp: ${msg.replace(/^Invalid regular expression: \/.*\/u: /, "")}`,
    );
  }
  if (cache.size >= CACHE_ENTRIES_MAX) cache.clear();
  cache.set(pattern, re);
  return re;
}

function hex(c: string): string {
  const cp = c.codePointAt(0)!;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u{${cp.toString(16)}}`;
}

function fail(what: string): never {
  throw new SyntaxError(`error parsing regexp: ${what}`);
}

/** Translates RE2 syntax to an equivalent JavaScript (`u` flag) pattern body. */
export function translateRe2(p: string): string {
  let out = "";
  let i = 0;
  // One entry per open group: does `.` match newlines inside it, and the `(?flags:` wrappers
  // opened by a bare `(?flags)`, which close with the group and reopen after each `|`.
  const groups: { dotAll: boolean; wrappers: string[] }[] = [{ dotAll: false, wrappers: [] }];
  const top = () => groups[groups.length - 1]!;
  const chars = [...p];
  const n = chars.length;
  const at = (k: number) => chars[k] ?? "";

  const escape = (inClass: boolean): string => {
    // chars[i] is the character after the backslash.
    const c = at(i);
    i++;
    if (c === "") fail("trailing backslash at end of expression");
    switch (c) {
      case "d":
      case "D":
      case "w":
      case "W":
        return "\\" + c;
      case "b":
      case "B":
        if (inClass) fail(`invalid escape sequence: \\${c}`);
        return "\\" + c;
      case "s":
        return inClass ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]";
      case "S":
        if (inClass) fail("unsupported escape sequence in character class: \\S");
        return "[^\\t\\n\\f\\r ]";
      case "A":
        if (inClass) fail("invalid escape sequence: \\A");
        return "^";
      case "z":
        if (inClass) fail("invalid escape sequence: \\z");
        return "$";
      case "n":
        return "\\n";
      case "t":
        return "\\t";
      case "r":
        return "\\r";
      case "f":
        return "\\f";
      case "v":
        return "\\v";
      case "a":
        return "\\x07";
      case "x": {
        if (at(i) === "{") {
          const end = chars.indexOf("}", i);
          if (end < 0) fail("invalid escape sequence: \\x{");
          const h = chars.slice(i + 1, end).join("");
          if (!/^[0-9a-fA-F]{1,6}$/.test(h) || parseInt(h, 16) > 0x10ffff) {
            fail(`invalid escape sequence: \\x{${h}}`);
          }
          i = end + 1;
          return `\\u{${h}}`;
        }
        const h = at(i) + at(i + 1);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) fail(`invalid escape sequence: \\x${h}`);
        i += 2;
        return `\\x${h}`;
      }
      case "p":
      case "P": {
        let name: string;
        if (at(i) === "{") {
          const end = chars.indexOf("}", i);
          if (end < 0) fail("invalid character class range");
          name = chars.slice(i + 1, end).join("");
          i = end + 1;
        } else {
          name = at(i);
          i++;
        }
        let negate = c === "P";
        if (name.startsWith("^")) {
          negate = !negate;
          name = name.slice(1);
        }
        if (!/^[A-Za-z_]+$/.test(name)) fail(`invalid character class range: \\p{${name}}`);
        const body = name === "Any"
          ? "Any"
          : GENERAL_CATEGORIES.has(name)
          ? name
          : `Script=${name}`;
        return `\\${negate ? "P" : "p"}{${body}}`;
      }
      case "Q": {
        let lit = "";
        while (i < n && !(at(i) === "\\" && at(i + 1) === "E")) lit += hex(at(i++));
        if (i < n) i += 2;
        return lit;
      }
      default:
        if (/[0-9]/.test(c)) fail(`invalid escape sequence: \\${c}`);
        if (/[A-Za-z]/.test(c)) fail(`invalid escape sequence: \\${c}`);
        // RE2 lets any punctuation be escaped; JavaScript's `u` mode only some of it.
        return hex(c);
    }
  };

  const charClass = (): string => {
    // chars[i] is the character after `[`.
    let body = "[";
    if (at(i) === "^") {
      body += "^";
      i++;
    }
    let first = true;
    for (;;) {
      if (i >= n) fail("missing closing ]");
      const c = at(i);
      if (c === "]" && !first) {
        i++;
        return body + "]";
      }
      first = false;
      if (c === "[" && at(i + 1) === ":") {
        const end = chars.indexOf("]", i);
        const spec = chars.slice(i + 2, end - 1).join("");
        if (end > 0 && at(end - 1) === ":" && POSIX_CLASSES[spec] !== undefined) {
          body += POSIX_CLASSES[spec];
          i = end + 1;
          continue;
        }
        if (end > 0 && at(end - 1) === ":") fail(`invalid character class range: [:${spec}:]`);
      }
      if (c === "\\") {
        i++;
        body += escape(true);
        continue;
      }
      i++;
      body += c === "[" || c === "]" || c === "/" ? hex(c) : c;
    }
  };

  const repeat = (): string | undefined => {
    // chars[i] is `{`; a valid `{n}`, `{n,}` or `{n,m}` is a repetition, anything else literal.
    let j = i + 1;
    let a = "";
    while (/[0-9]/.test(at(j))) a += at(j++);
    if (a === "") return undefined;
    let b: string | undefined = a;
    if (at(j) === ",") {
      j++;
      b = "";
      while (/[0-9]/.test(at(j))) b += at(j++);
    }
    if (at(j) !== "}") return undefined;
    if (Number(a) > 1000 || (b !== "" && Number(b) > 1000)) {
      fail(`invalid repeat count: ${chars.slice(i, j + 1).join("")}`);
    }
    if (b !== "" && Number(b) < Number(a)) {
      fail(`invalid repeat count: ${chars.slice(i, j + 1).join("")}`);
    }
    const text = chars.slice(i, j + 1).join("");
    i = j + 1;
    return text;
  };

  while (i < n) {
    const c = at(i);
    switch (c) {
      case "\\":
        i++;
        out += escape(false);
        break;
      case "[":
        i++;
        out += charClass();
        break;
      case ".":
        i++;
        out += top().dotAll ? "[^]" : "[^\\n]";
        break;
      case "{": {
        const r = repeat();
        if (r === undefined) {
          out += "\\x7b";
          i++;
        } else out += r;
        break;
      }
      case "}":
        out += "\\x7d";
        i++;
        break;
      case "]":
        out += "\\x5d";
        i++;
        break;
      case "(": {
        i++;
        if (at(i) !== "?") {
          groups.push({ dotAll: top().dotAll, wrappers: [] });
          out += "(";
          break;
        }
        i++;
        if (at(i) === "P" && at(i + 1) === "<") {
          i++;
        }
        if (at(i) === "<" && at(i + 1) !== "=" && at(i + 1) !== "!") {
          const end = chars.indexOf(">", i);
          const name = chars.slice(i + 1, end).join("");
          if (end < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            fail(`invalid named capture: ${name}`);
          }
          i = end + 1;
          groups.push({ dotAll: top().dotAll, wrappers: [] });
          out += `(?<${name}>`;
          break;
        }
        // Flags: (?flags) or (?flags:re), flags from i, m, s, U with an optional `-`.
        let j = i;
        let on = "";
        let off = "";
        let neg = false;
        while (/[imsU-]/.test(at(j))) {
          if (at(j) === "-") {
            if (neg) fail("invalid or unsupported Perl syntax: (?-");
            neg = true;
          } else if (neg) off += at(j);
          else on += at(j);
          j++;
        }
        if (at(j) !== ")" && at(j) !== ":") {
          fail(`invalid or unsupported Perl syntax: (?${chars.slice(i, j + 1).join("")}`);
        }
        if ((on + off).includes("U")) fail("unsupported flag: U (ungreedy)");
        const dotAll = on.includes("s") ? true : off.includes("s") ? false : top().dotAll;
        const jsOn = on.replace("s", "");
        const jsOff = off.replace("s", "");
        const mod = jsOn || jsOff ? `(?${jsOn}${jsOff ? "-" + jsOff : ""}:` : "(?:";
        if (at(j) === ":") {
          groups.push({ dotAll, wrappers: [] });
          out += mod;
        } else {
          // A bare (?flags) applies to the rest of the enclosing group.
          top().dotAll = dotAll;
          top().wrappers.push(mod);
          out += mod;
        }
        i = j + 1;
        break;
      }
      case ")": {
        i++;
        if (groups.length === 1) fail("unexpected ): more closing than opening parentheses");
        const g = groups.pop()!;
        out += ")".repeat(g.wrappers.length) + ")";
        break;
      }
      case "|": {
        // A bare (?flags) lasts to the end of its group across alternatives: close its
        // wrappers before the `|` and reopen them after it.
        const g = top();
        out += ")".repeat(g.wrappers.length) + "|" + g.wrappers.join("");
        i++;
        break;
      }
      default:
        out += c === "/" ? "\\/" : c;
        i++;
    }
  }
  if (groups.length !== 1) fail("missing closing ): more opening than closing parentheses");
  out += ")".repeat(top().wrappers.length);
  return out;
}
