/**
 * PromQL tokens, with Prometheus 2.42's lexing rules (ARCHITECTURE.md § "PromQL engine"):
 * keywords are case-insensitive and only keywords outside braces (`{on="x"}` is a label);
 * inside `[…]` come durations and one `:`; `5m` outside brackets is a duration, `5` a number;
 * `inf`/`nan` are numbers; `#` starts a comment to the end of the line.
 *
 * @module
 */

/** Token kinds. */
import { AGGREGATE_OPS } from "./ast.ts";

export type TokenType =
  | "number"
  | "duration"
  | "string"
  | "identifier"
  | "metric_identifier"
  | "keyword"
  | "op"
  | "("
  | ")"
  | "{"
  | "}"
  | "["
  | "]"
  | ","
  | ":"
  | "@"
  | "eof";

/** One token. */
export interface Token {
  readonly type: TokenType;
  /** Source text (keywords lower-cased; strings still quoted). */
  readonly text: string;
  /** Offset in the query (UTF-16 units). */
  readonly pos: number;
}

/** A syntax or type error at a position; `message` is Prometheus's `line:col: parse error: …`. */
export class ParseError extends Error {
  /** Offset of the error in the query. */
  readonly pos: number;
  /** The bare reason. */
  readonly reason: string;

  constructor(query: string, pos: number, reason: string) {
    const before = query.slice(0, Math.max(0, pos));
    const line = before.split("\n").length;
    const col = pos - (before.lastIndexOf("\n") + 1) + 1;
    super(`${line}:${col}: parse error: ${reason}`);
    this.pos = pos;
    this.reason = reason;
    this.name = "ParseError";
  }
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "atan2",
  ...AGGREGATE_OPS,
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "start",
  "end",
]);

function isAlpha(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}
function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}
function isAlnum(c: string): boolean {
  return isAlpha(c) || isDigit(c);
}
function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

/** Splits a query into tokens; throws `ParseError`. */
export function lex(input: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  let parenDepth = 0;
  let braceOpen = false;
  let bracketOpen = false;
  let gotColon = false;
  const err = (at: number, reason: string): never => {
    throw new ParseError(input, at, reason);
  };
  const peek = (k = 0) => input[pos + k] ?? "";
  const emit = (type: TokenType, start: number, text = input.slice(start, pos)) =>
    out.push({ type, text, pos: start });

  const scanNumber = (): boolean => {
    let digits = "0123456789";
    if (peek() === "0" && (peek(1) === "x" || peek(1) === "X")) {
      pos += 2;
      digits = "0123456789abcdefABCDEF";
    }
    while (digits.includes(peek()) && peek() !== "") pos++;
    if (peek() === ".") {
      pos++;
      while (digits.includes(peek()) && peek() !== "") pos++;
    }
    if (peek() === "e" || peek() === "E") {
      pos++;
      if (peek() === "+" || peek() === "-") pos++;
      while (isDigit(peek())) pos++;
    }
    return !isAlnum(peek());
  };
  const acceptDurationRest = (): boolean => {
    if (!"smhdwy".includes(peek()) || peek() === "") return false;
    pos++;
    if (peek() === "s") pos++;
    while (isDigit(peek())) {
      while (isDigit(peek())) pos++;
      if (!"smhdw".includes(peek()) || peek() === "") return false;
      pos++;
      if (peek() === "s") pos++;
    }
    return !isAlnum(peek());
  };
  const lexString = (start: number, quote: string) => {
    pos++;
    for (;;) {
      const c = peek();
      if (c === "" || (c === "\n" && quote !== "`")) {
        err(start, quote === "`" ? "unterminated raw string" : "unterminated quoted string");
      }
      pos++;
      if (c === "\\" && quote !== "`") {
        pos++;
        continue;
      }
      if (c === quote) break;
    }
    emit("string", start);
  };

  while (pos <= input.length) {
    const start = pos;
    const c = peek();
    if (c === "") {
      if (braceOpen) err(pos, "unexpected end of input inside braces");
      if (parenDepth !== 0) err(pos, "unclosed left parenthesis");
      if (bracketOpen) err(pos, "unclosed left bracket");
      emit("eof", start, "");
      break;
    }
    if (c === "#") {
      while (peek() !== "" && peek() !== "\n" && peek() !== "\r") pos++;
      continue;
    }
    if (isSpace(c)) {
      pos++;
      continue;
    }
    if (braceOpen) {
      if (isAlpha(c)) {
        while (isAlnum(peek())) pos++;
        emit("identifier", start);
      } else if (c === "," || c === "}") {
        pos++;
        emit(c, start);
        if (c === "}") braceOpen = false;
      } else if (c === "=") {
        pos++;
        if (peek() === "~") pos++;
        emit("op", start);
      } else if (c === "!") {
        pos++;
        if (peek() !== "=" && peek() !== "~") {
          err(pos, `unexpected character after '!' inside braces: ${JSON.stringify(peek())}`);
        }
        pos++;
        emit("op", start);
      } else if (c === '"' || c === "'" || c === "`") {
        lexString(start, c);
      } else {
        err(pos, `unexpected character inside braces: ${JSON.stringify(c)}`);
      }
      continue;
    }
    if (bracketOpen && (isDigit(c) || c === ":" || c === "]")) {
      if (c === ":") {
        if (gotColon) err(pos, `unexpected colon ":"`);
        gotColon = true;
        pos++;
        emit(":", start);
      } else if (c === "]") {
        pos++;
        bracketOpen = false;
        emit("]", start);
      } else {
        if (scanNumber()) err(pos, "missing unit character in duration");
        if (!acceptDurationRest()) {
          err(start, `bad duration syntax: ${JSON.stringify(input.slice(start, pos + 1))}`);
        }
        emit("duration", start);
      }
      continue;
    }
    switch (c) {
      case ",":
      case "@":
        pos++;
        emit(c, start);
        continue;
      case "(":
        pos++;
        parenDepth++;
        emit("(", start);
        continue;
      case ")":
        pos++;
        parenDepth--;
        if (parenDepth < 0) err(start, `unexpected right parenthesis ')'`);
        emit(")", start);
        continue;
      case "{":
        pos++;
        braceOpen = true;
        emit("{", start);
        continue;
      case "[":
        if (bracketOpen) err(start, `unexpected left bracket '['`);
        pos++;
        gotColon = false;
        bracketOpen = true;
        emit("[", start);
        continue;
      case "]":
        err(start, `unexpected right bracket ']'`);
        break;
      case "*":
      case "/":
      case "%":
      case "+":
      case "-":
      case "^":
        pos++;
        emit("op", start);
        continue;
      case "=":
        pos++;
        if (peek() === "=") pos++;
        else if (peek() === "~") err(pos, `unexpected character after '=': '~'`);
        emit("op", start);
        continue;
      case "!":
        pos++;
        if (peek() !== "=") err(pos, `unexpected character after '!': ${JSON.stringify(peek())}`);
        pos++;
        emit("op", start);
        continue;
      case "<":
      case ">":
        pos++;
        if (peek() === "=") pos++;
        emit("op", start);
        continue;
      case '"':
      case "'":
      case "`":
        lexString(start, c);
        continue;
    }
    if (isDigit(c) || (c === "." && isDigit(peek(1)))) {
      if (scanNumber()) {
        emit("number", start);
        continue;
      }
      pos = start;
      while (isDigit(peek())) pos++;
      if (acceptDurationRest()) {
        emit("duration", start);
        continue;
      }
      err(start, `bad number or duration syntax: ${JSON.stringify(input.slice(start, pos + 1))}`);
    }
    if (isAlpha(c) || c === ":") {
      if (bracketOpen) err(start, `unexpected character in brackets: ${JSON.stringify(c)}`);
      while (isAlnum(peek()) || peek() === ":") pos++;
      const word = input.slice(start, pos);
      const lower = word.toLowerCase();
      if (lower === "inf" || lower === "nan") emit("number", start);
      else if (KEYWORDS.has(lower)) emit("keyword", start, lower);
      else emit(word.includes(":") ? "metric_identifier" : "identifier", start);
      continue;
    }
    err(start, `unexpected character: ${JSON.stringify(c)}`);
  }
  return out;
}

/** Unquotes a string token with Go's escapes (`\n`, `\x41`, `\u00e9`, `\101`, …). */
export function unquote(query: string, tok: Token): string {
  const raw = tok.text;
  const quote = raw[0]!;
  const body = raw.slice(1, -1);
  if (quote === "`") return body;
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i] ?? "";
    const bad = (reason: string): never => {
      throw new ParseError(query, tok.pos, reason);
    };
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
    };
    if (simple[e] !== undefined) out += simple[e];
    else if (e === quote) out += e;
    else if (e >= "0" && e <= "7") {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) bad("escape sequence not terminated");
      const v = parseInt(oct, 8);
      if (v > 255) bad("escape sequence is an invalid Unicode code point");
      out += String.fromCharCode(v);
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const len = e === "x" ? 2 : e === "u" ? 4 : 8;
      const h = body.slice(i + 1, i + 1 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) {
        bad(`illegal character in escape sequence`);
      }
      const v = parseInt(h, 16);
      if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) {
        bad("escape sequence is an invalid Unicode code point");
      }
      out += String.fromCodePoint(v);
      i += len;
    } else bad(`unknown escape sequence ${JSON.stringify(e)}`);
  }
  return out;
}

const UNIT_MS: Record<string, number> = {
  y: 365 * 24 * 3_600_000,
  w: 7 * 24 * 3_600_000,
  d: 24 * 3_600_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const UNIT_ORDER = ["y", "w", "d", "h", "m", "s", "ms"];

/**
 * Parses a Prometheus duration (`1h30m`, `90s`, `1y`): units in descending order, each at most
 * once. Returns milliseconds, or `undefined` when malformed.
 */
export function parseDurationMs(s: string): number | undefined {
  if (s === "0") return 0;
  const re = /([0-9]+)(ms|y|w|d|h|m|s)/y;
  let last = -1;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return undefined;
    const order = UNIT_ORDER.indexOf(m[2]!);
    if (order <= last) return undefined;
    last = order;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    i = re.lastIndex;
  }
  if (s.length === 0 || !Number.isSafeInteger(total)) return undefined;
  return total;
}

/** Parses a number token like Go's `ParseInt(s, 0, 64)` then `ParseFloat` (so `010` is 8). */
export function parseNumber(s: string): number | undefined {
  const lower = s.toLowerCase();
  if (lower === "inf" || lower === "+inf") return Infinity;
  if (lower === "-inf") return -Infinity;
  if (lower === "nan") return NaN;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return parseInt(s.slice(1), 8);
  if (/^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) return Number(s);
  return undefined;
}
