/**
 * PromQL parser: tokens to a typed syntax tree, with Prometheus 2.42's grammar, precedence and
 * checks (ARCHITECTURE.md § "PromQL engine"). Errors are `ParseError`s whose messages follow
 * Prometheus's (`1:5: parse error: unexpected …`).
 *
 * Precedence, lowest first: `or`; `and unless`; `== != <= < >= >`; `+ -`; `* / % atan2`;
 * `^` (right-associative). Unary minus binds like `*`, so `-2^2` is -4. Postfix `[…]`,
 * `offset` and `@` bind tightest.
 *
 * @module
 */

import {
  AGGREGATE_OPS,
  type AggregateOp,
  type AtModifier,
  type BinaryOp,
  type Cardinality,
  documentedType,
  type Expr,
  FUNCTIONS,
  isComparison,
  isSetOperator,
  typeOf,
  type ValueType,
  type VectorMatching,
  type VectorSelector,
} from "./ast.ts";
import { lex, parseDurationMs, ParseError, parseNumber, type Token, unquote } from "./lexer.ts";
import { isValidLabelName, type Matcher, matchValue, METRIC_NAME, newMatcher } from "./labels.ts";
import { PROMQL_NESTING_DEPTH_MAX, PROMQL_QUERY_BYTES_MAX } from "../limits.ts";

export { ParseError } from "./lexer.ts";

const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  unless: 2,
  "==": 3,
  "!=": 3,
  "<=": 3,
  "<": 3,
  ">=": 3,
  ">": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  atan2: 5,
  "^": 6,
};
const UNARY_PRECEDENCE = 5;

class Parser {
  readonly #q: string;
  readonly #toks: Token[];
  #i = 0;
  #depth = 0;
  /** Parsing a `match[]` selector: Prometheus skips the non-empty-matcher check there. */
  readonly #selectorOnly: boolean;

  constructor(query: string, selectorOnly = false) {
    this.#q = query;
    this.#toks = lex(query);
    this.#selectorOnly = selectorOnly;
  }

  get #tok(): Token {
    return this.#peek();
  }

  /** The current token (a method, so type narrowing does not stick across `#next()`). */
  #peek(): Token {
    return this.#toks[this.#i]!;
  }

  #next(): Token {
    const t = this.#toks[this.#i]!;
    if (t.type !== "eof") this.#i++;
    return t;
  }

  #fail(pos: number, reason: string): never {
    throw new ParseError(this.#q, pos, reason);
  }

  #desc(t: Token): string {
    if (t.type === "eof") return "end of input";
    if (t.type === "identifier" || t.type === "metric_identifier") return `identifier "${t.text}"`;
    if (t.type === "number") return `number "${t.text}"`;
    if (t.type === "duration") return `duration "${t.text}"`;
    if (t.type === "string") return `string ${t.text}`;
    return `"${t.text}"`;
  }

  #unexpected(context: string, expected = ""): never {
    const t = this.#tok;
    let msg = `unexpected ${this.#desc(t)}`;
    if (context) msg += ` in ${context}`;
    if (expected) msg += `, expected ${expected}`;
    this.#fail(t.pos, msg);
  }

  #expect(type: string, context: string, expected?: string): Token {
    if (this.#peek().type !== type) this.#unexpected(context, expected ?? `"${type}"`);
    return this.#next();
  }

  #isKeyword(word: string): boolean {
    return this.#peek().type === "keyword" && this.#tok.text === word;
  }

  parse(): Expr {
    if (this.#peek().type === "eof") this.#fail(0, "no expression found in input");
    const e = this.#expr(0);
    if (this.#peek().type !== "eof") this.#unexpected("");
    return e;
  }

  /** Binary operators by precedence climbing. */
  #expr(minPrec: number): Expr {
    if (++this.#depth > PROMQL_NESTING_DEPTH_MAX) {
      this.#fail(this.#tok.pos, `expression nested too deeply (limit ${PROMQL_NESTING_DEPTH_MAX})`);
    }
    let lhs = this.#unary();
    for (;;) {
      const t = this.#tok;
      const op = t.type === "op" || t.type === "keyword" ? t.text : "";
      const prec = PRECEDENCE[op];
      if (prec === undefined || prec < minPrec) break;
      this.#next();
      const mods = this.#binModifiers();
      // `^` is right-associative: its right side may hold another `^` of equal precedence.
      const rhs = this.#expr(op === "^" ? prec : prec + 1);
      lhs = this.#binary(op as BinaryOp, lhs, rhs, mods, t.pos);
    }
    this.#depth--;
    return lhs;
  }

  #binModifiers(): {
    returnBool: boolean;
    matching?: Omit<VectorMatching, "card">;
    card: Cardinality;
  } {
    let returnBool = false;
    if (this.#isKeyword("bool")) {
      this.#next();
      returnBool = true;
    }
    let matching: Omit<VectorMatching, "card"> | undefined;
    let card: Cardinality = "one-to-one";
    if (this.#isKeyword("on") || this.#isKeyword("ignoring")) {
      const on = this.#next().text === "on";
      matching = { on, labels: this.#groupingLabels(), include: [] };
      if (this.#isKeyword("group_left") || this.#isKeyword("group_right")) {
        card = this.#next().text === "group_left" ? "many-to-one" : "one-to-many";
        const include = this.#peek().type === "(" ? this.#groupingLabels() : [];
        matching = { ...matching, include };
      }
    }
    return matching ? { returnBool, matching, card } : { returnBool, card };
  }

  #binary(
    op: BinaryOp,
    lhs: Expr,
    rhs: Expr,
    mods: { returnBool: boolean; matching?: Omit<VectorMatching, "card">; card: Cardinality },
    pos: number,
  ): Expr {
    const lt = typeOf(lhs);
    const rt = typeOf(rhs);
    if (mods.returnBool && !isComparison(op)) {
      this.#fail(pos, "bool modifier can only be used on comparison operators");
    }
    if (isComparison(op) && !mods.returnBool && lt === "scalar" && rt === "scalar") {
      this.#fail(pos, "comparisons between scalars must use BOOL modifier");
    }
    const m = mods.matching;
    if (m && m.on) {
      for (const l of m.include) {
        if (m.labels.includes(l)) {
          this.#fail(pos, `label "${l}" must not occur in ON and GROUP clause at once`);
        }
      }
    }
    if (lt !== "scalar" && lt !== "vector") {
      this.#fail(pos, "binary expression must contain only scalar and instant vector types");
    }
    if (rt !== "scalar" && rt !== "vector") {
      this.#fail(pos, "binary expression must contain only scalar and instant vector types");
    }
    let matching: VectorMatching | undefined;
    if (lt === "vector" && rt === "vector") {
      let card = mods.card;
      if (isSetOperator(op)) {
        if (card === "one-to-many" || card === "many-to-one") {
          this.#fail(pos, `no grouping allowed for "${op}" operation`);
        }
        card = "many-to-many";
      }
      matching = { card, on: m?.on ?? false, labels: m?.labels ?? [], include: m?.include ?? [] };
    } else {
      if (m && m.labels.length > 0) {
        this.#fail(pos, "vector matching only allowed between instant vectors");
      }
      if (isSetOperator(op)) {
        this.#fail(pos, `set operator "${op}" not allowed in binary scalar expression`);
      }
    }
    return { type: "binary", op, lhs, rhs, returnBool: mods.returnBool, matching };
  }

  #unary(): Expr {
    const t = this.#tok;
    if (t.type === "op" && (t.text === "-" || t.text === "+")) {
      this.#next();
      const e = this.#expr(UNARY_PRECEDENCE + 1);
      if (e.type === "number") {
        return t.text === "-" ? { type: "number", value: -e.value } : e;
      }
      const et = typeOf(e);
      if (et !== "scalar" && et !== "vector") {
        this.#fail(
          t.pos,
          `unary expression only allowed on expressions of type scalar or instant vector, got "${
            documentedType(et)
          }"`,
        );
      }
      return { type: "unary", op: t.text, expr: e };
    }
    return this.#postfix(this.#primary());
  }

  /** `[range]`, `[range:step]`, `offset d` and `@ t` after an expression. */
  #postfix(e: Expr): Expr {
    for (;;) {
      const t = this.#tok;
      if (t.type === "[") {
        this.#next();
        const range = this.#duration(this.#expect("duration", "subquery selector", "duration"));
        if (this.#peek().type === "]") {
          this.#next();
          if (e.type !== "vector_selector") {
            this.#fail(t.pos, "ranges only allowed for vector selectors");
          }
          if (e.offsetMs !== 0) this.#fail(t.pos, "no offset modifiers allowed before range");
          if (e.at !== undefined) this.#fail(t.pos, "no @ modifiers allowed before range");
          e = { type: "matrix_selector", selector: e, rangeMs: range };
          continue;
        }
        this.#expect(":", "subquery or range", `":" or "]"`);
        let step = 0;
        if (this.#peek().type === "duration") step = this.#duration(this.#next());
        this.#expect("]", "subquery selector", `"]"`);
        const et = typeOf(e);
        if (et !== "vector") {
          this.#fail(t.pos, `subquery is only allowed on instant vector, got ${et} instead`);
        }
        e = { type: "subquery", expr: e, rangeMs: range, stepMs: step, offsetMs: 0, at: undefined };
        continue;
      }
      if (t.type === "keyword" && t.text === "offset") {
        this.#next();
        let sign = 1;
        if (this.#peek().type === "op" && this.#tok.text === "-") {
          this.#next();
          sign = -1;
        }
        const d = this.#duration(this.#expect("duration", "offset", "duration"));
        const target = this.#modifierTarget(e, t.pos, "offset modifier");
        if (target.offsetMs !== 0) this.#fail(t.pos, "offset may not be set multiple times");
        target.offsetMs = sign * d;
        continue;
      }
      if (t.type === "@") {
        this.#next();
        const target = this.#modifierTarget(e, t.pos, "@ modifier");
        if (target.at !== undefined) {
          this.#fail(t.pos, "@ <timestamp> may not be set multiple times");
        }
        target.at = this.#atValue();
        continue;
      }
      return e;
    }
  }

  #modifierTarget(
    e: Expr,
    pos: number,
    what: string,
  ): { offsetMs: number; at: AtModifier | undefined } {
    if (e.type === "vector_selector" || e.type === "subquery") return e;
    if (e.type === "matrix_selector") return e.selector;
    this.#fail(
      pos,
      `${what} must be preceded by an instant vector selector or range vector selector or a subquery`,
    );
  }

  #atValue(): AtModifier {
    const t = this.#tok;
    if (t.type === "keyword" && (t.text === "start" || t.text === "end")) {
      this.#next();
      this.#expect("(", "@", `"("`);
      this.#expect(")", "@", `")"`);
      return { kind: t.text };
    }
    let sign = 1;
    if (t.type === "op" && (t.text === "-" || t.text === "+")) {
      this.#next();
      if (t.text === "-") sign = -1;
    }
    const nt = this.#expect("number", "@", "timestamp");
    const v = sign * (parseNumber(nt.text) ?? NaN);
    if (!Number.isFinite(v) || Math.abs(v) >= 9.223372036854776e15) {
      this.#fail(nt.pos, `timestamp out of bounds for @ modifier: ${v.toFixed(6)}`);
    }
    return { kind: "time", ms: Math.round(v * 1000) };
  }

  #duration(t: Token): number {
    const ms = parseDurationMs(t.text);
    if (ms === undefined) this.#fail(t.pos, `not a valid duration string: "${t.text}"`);
    if (ms === 0) this.#fail(t.pos, "duration must be greater than 0");
    return ms;
  }

  #primary(): Expr {
    const t = this.#tok;
    switch (t.type) {
      case "number": {
        this.#next();
        const v = parseNumber(t.text);
        if (v === undefined) this.#fail(t.pos, `error parsing number: invalid syntax: "${t.text}"`);
        return { type: "number", value: v };
      }
      case "string":
        this.#next();
        return { type: "string", value: unquote(this.#q, t) };
      case "(": {
        this.#next();
        const e = this.#expr(0);
        this.#expect(")", "paren expression", `")"`);
        return { type: "paren", expr: e };
      }
      case "{":
        return this.#selector("", t.pos);
      case "duration":
        this.#unexpected("");
        break;
      case "keyword":
        if (AGGREGATE_OPS.has(t.text)) return this.#aggregate();
        this.#unexpected("");
        break;
      case "identifier":
      case "metric_identifier":
        this.#next();
        if (this.#peek().type === "(" && t.type === "identifier") return this.#call(t);
        return this.#selector(t.text, t.pos);
    }
    this.#unexpected("");
  }

  #call(name: Token): Expr {
    const func = FUNCTIONS.get(name.text);
    if (!func) this.#fail(name.pos, `unknown function with name "${name.text}"`);
    const args = this.#args();
    const nargs = func.argTypes.length;
    if (func.variadic === 0) {
      if (nargs !== args.length) {
        this.#fail(
          name.pos,
          `expected ${nargs} argument(s) in call to "${func.name}", got ${args.length}`,
        );
      }
    } else {
      const na = nargs - 1;
      if (na > args.length) {
        this.#fail(
          name.pos,
          `expected at least ${na} argument(s) in call to "${func.name}", got ${args.length}`,
        );
      } else if (func.variadic > 0 && na + func.variadic < args.length) {
        this.#fail(
          name.pos,
          `expected at most ${
            na + func.variadic
          } argument(s) in call to "${func.name}", got ${args.length}`,
        );
      }
    }
    args.forEach((a, i) => {
      const want = func.argTypes[Math.min(i, nargs - 1)]!;
      this.#expectType(a, want, `call to function "${func.name}"`, name.pos);
    });
    return { type: "call", func, args };
  }

  #expectType(e: Expr, want: ValueType, context: string, pos: number): void {
    const got = typeOf(e);
    if (got !== want) {
      this.#fail(
        pos,
        `expected type ${documentedType(want)} in ${context}, got ${documentedType(got)}`,
      );
    }
  }

  #args(): Expr[] {
    this.#expect("(", "function call", `"("`);
    const args: Expr[] = [];
    if (this.#peek().type === ")") {
      this.#next();
      return args;
    }
    for (;;) {
      args.push(this.#expr(0));
      if (this.#peek().type === ",") {
        const comma = this.#next();
        if (this.#peek().type === ")") {
          this.#fail(comma.pos, "trailing commas not allowed in function call args");
        }
        continue;
      }
      this.#expect(")", "function call", `"," or ")"`);
      return args;
    }
  }

  #aggregate(): Expr {
    const opTok = this.#next();
    const op = opTok.text as AggregateOp;
    let grouping: string[] | undefined;
    let without = false;
    const modifier = () => {
      if (this.#isKeyword("by") || this.#isKeyword("without")) {
        without = this.#next().text === "without";
        grouping = this.#groupingLabels();
        return true;
      }
      return false;
    };
    const before = modifier();
    if (this.#peek().type !== "(") this.#unexpected("aggregation", `"("`);
    const args = this.#args();
    if (!before) modifier();
    if (args.length === 0) this.#fail(opTok.pos, "no arguments for aggregate expression provided");
    const withParam = op === "topk" || op === "bottomk" || op === "quantile" ||
      op === "count_values";
    const want = withParam ? 2 : 1;
    if (args.length !== want) {
      this.#fail(
        opTok.pos,
        `wrong number of arguments for aggregate expression provided, expected ${want}, got ${args.length}`,
      );
    }
    const expr = args[want - 1]!;
    const param = withParam ? args[0] : undefined;
    this.#expectType(expr, "vector", "aggregation expression", opTok.pos);
    if (param) {
      this.#expectType(
        param,
        op === "count_values" ? "string" : "scalar",
        "aggregation parameter",
        opTok.pos,
      );
    }
    return { type: "aggregate", op, expr, param, grouping: grouping ?? [], without };
  }

  #groupingLabels(): string[] {
    this.#expect("(", "grouping opts", `"("`);
    const out: string[] = [];
    for (;;) {
      const t = this.#tok;
      if (t.type === ")") {
        this.#next();
        return out;
      }
      if (t.type !== "identifier" && t.type !== "keyword" && t.type !== "metric_identifier") {
        this.#unexpected("grouping opts", "label");
      }
      if (!isValidLabelName(t.text) && !(t.type === "keyword")) {
        this.#unexpected("grouping opts", "label");
      }
      // Keywords are lexed lower-case; a label is case-sensitive, so take the source text.
      out.push(this.#q.slice(t.pos, t.pos + t.text.length));
      this.#next();
      if (this.#peek().type === ",") this.#next();
      else if (this.#peek().type !== ")") this.#unexpected("grouping opts", `"," or ")"`);
    }
  }

  #selector(name: string, pos: number): VectorSelector {
    const matchers: Matcher[] = [];
    if (this.#peek().type === "{") {
      this.#next();
      for (;;) {
        if (this.#peek().type === "}") {
          this.#next();
          break;
        }
        const label = this.#expect("identifier", "label matching", `identifier or "}"`);
        const opTok = this.#expect("op", "label matching", "label matching operator");
        if (!["=", "!=", "=~", "!~"].includes(opTok.text)) {
          this.#fail(opTok.pos, `unexpected "${opTok.text}" in label matching`);
        }
        const valTok = this.#expect("string", "label matching", "string");
        const value = unquote(this.#q, valTok);
        try {
          matchers.push(newMatcher(label.text, opTok.text as Matcher["op"], value));
        } catch (err) {
          this.#fail(label.pos, (err as Error).message);
        }
        if (this.#peek().type === ",") this.#next();
        else if (this.#peek().type !== "}") this.#unexpected("label matching", `"," or "}"`);
      }
    }
    if (name !== "") {
      for (const m of matchers) {
        if (m.name === METRIC_NAME) {
          this.#fail(pos, `metric name must not be set twice: "${name}" or "${m.value}"`);
        }
      }
      matchers.push(newMatcher(METRIC_NAME, "=", name));
    } else if (!this.#selectorOnly && !matchers.some((m) => !matchValue(m, ""))) {
      this.#fail(pos, "vector selector must contain at least one non-empty matcher");
    }
    return { type: "vector_selector", name, matchers, offsetMs: 0, at: undefined };
  }
}

/** Parses a PromQL expression; throws `ParseError`. */
export function parseExpr(query: string): Expr {
  if (query.length > PROMQL_QUERY_BYTES_MAX) {
    throw new ParseError(
      query.slice(0, 1),
      0,
      `query too long: ${query.length} characters (limit ${PROMQL_QUERY_BYTES_MAX})`,
    );
  }
  return new Parser(query).parse();
}

/** Parses a series selector (`match[]`): an instant vector selector only. */
export function parseSelector(text: string): Matcher[] {
  if (text.length > PROMQL_QUERY_BYTES_MAX) return parseExpr(text) as never;
  const e = new Parser(text, true).parse();
  if (e.type !== "vector_selector") {
    throw new ParseError(text, 0, `unexpected expression: expected a series selector`);
  }
  return [...e.matchers];
}
