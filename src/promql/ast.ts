/**
 * The PromQL syntax tree, value types and the function signatures the parser checks calls
 * against (Prometheus 2.42's `promql/parser`), ARCHITECTURE.md § "PromQL engine".
 *
 * @module
 */

import type { Matcher } from "./labels.ts";

/** The type of a PromQL expression's value. */
export type ValueType = "scalar" | "vector" | "matrix" | "string";

/** Prometheus's documented name of a value type (used in error messages). */
export function documentedType(t: ValueType): string {
  switch (t) {
    case "vector":
      return "instant vector";
    case "matrix":
      return "range vector";
    default:
      return t;
  }
}

/** `@ <time>`, `@ start()` or `@ end()`. */
export type AtModifier =
  | { kind: "time"; ms: number }
  | { kind: "start" }
  | { kind: "end" };

/** `metric{label="value"} offset 5m @ 1700000000`. */
export interface VectorSelector {
  readonly type: "vector_selector";
  /** The bare metric name written before the braces, or `""`. */
  readonly name: string;
  /** All matchers, the metric name's `__name__="…"` included. */
  readonly matchers: readonly Matcher[];
  /** `offset` in milliseconds (negative for `offset -5m`). */
  offsetMs: number;
  /** `@` modifier, if any. */
  at: AtModifier | undefined;
}

/** `selector[5m]`. */
export interface MatrixSelector {
  readonly type: "matrix_selector";
  readonly selector: VectorSelector;
  readonly rangeMs: number;
}

/** `expr[30m:1m]`. */
export interface SubqueryExpr {
  readonly type: "subquery";
  readonly expr: Expr;
  readonly rangeMs: number;
  /** 0 when written without a step (`[30m:]`). */
  readonly stepMs: number;
  offsetMs: number;
  at: AtModifier | undefined;
}

/** A number. */
export interface NumberLiteral {
  readonly type: "number";
  readonly value: number;
}

/** A string. */
export interface StringLiteral {
  readonly type: "string";
  readonly value: string;
}

/** `( expr )`. */
export interface ParenExpr {
  readonly type: "paren";
  readonly expr: Expr;
}

/** `-expr` or `+expr`. */
export interface UnaryExpr {
  readonly type: "unary";
  readonly op: "-" | "+";
  readonly expr: Expr;
}

/** A function call. */
export interface Call {
  readonly type: "call";
  readonly func: FunctionSignature;
  readonly args: readonly Expr[];
}

/** Aggregation operators. */
export type AggregateOp =
  | "sum"
  | "avg"
  | "count"
  | "min"
  | "max"
  | "group"
  | "stddev"
  | "stdvar"
  | "topk"
  | "bottomk"
  | "count_values"
  | "quantile";

/** The aggregation operators, as a set. */
export const AGGREGATE_OPS: ReadonlySet<string> = new Set<AggregateOp>([
  "sum",
  "avg",
  "count",
  "min",
  "max",
  "group",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "count_values",
  "quantile",
]);

/** `sum by (job) (expr)`, `topk(3, expr)`. */
export interface AggregateExpr {
  readonly type: "aggregate";
  readonly op: AggregateOp;
  readonly expr: Expr;
  /** The first argument of topk, bottomk, quantile and count_values. */
  readonly param: Expr | undefined;
  /** `by (…)` or `without (…)` labels. */
  readonly grouping: readonly string[];
  readonly without: boolean;
}

/** Binary operators. */
export type BinaryOp =
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "^"
  | "atan2"
  | "=="
  | "!="
  | ">"
  | "<"
  | ">="
  | "<="
  | "and"
  | "or"
  | "unless";

/** True for `== != > < >= <=`. */
export function isComparison(op: BinaryOp): boolean {
  return op === "==" || op === "!=" || op === ">" || op === "<" || op === ">=" || op === "<=";
}

/** True for `and or unless`. */
export function isSetOperator(op: BinaryOp): boolean {
  return op === "and" || op === "or" || op === "unless";
}

/** Vector matching cardinality. */
export type Cardinality = "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many";

/** `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)`. */
export interface VectorMatching {
  card: Cardinality;
  readonly on: boolean;
  readonly labels: readonly string[];
  readonly include: readonly string[];
}

/** `lhs op rhs`. */
export interface BinaryExpr {
  readonly type: "binary";
  readonly op: BinaryOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  readonly returnBool: boolean;
  /** Present when both sides are instant vectors. */
  readonly matching: VectorMatching | undefined;
}

/** Any PromQL expression. */
export type Expr =
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | NumberLiteral
  | StringLiteral
  | ParenExpr
  | UnaryExpr
  | Call
  | AggregateExpr
  | BinaryExpr;

/** A function's name, argument types and result type (Prometheus's `parser.Function`). */
export interface FunctionSignature {
  readonly name: string;
  readonly argTypes: readonly ValueType[];
  /** 0: exactly `argTypes`; n > 0: up to n optional trailing args; -1: any number of the last. */
  readonly variadic: number;
  readonly returnType: ValueType;
}

const V: ValueType = "vector";
const M: ValueType = "matrix";
const S: ValueType = "scalar";
const STR: ValueType = "string";

function sig(
  name: string,
  argTypes: ValueType[],
  returnType: ValueType = V,
  variadic = 0,
): [string, FunctionSignature] {
  return [name, { name, argTypes, variadic, returnType }];
}

const MATH = [
  "abs",
  "ceil",
  "floor",
  "exp",
  "sqrt",
  "ln",
  "log2",
  "log10",
  "sin",
  "cos",
  "tan",
  "asin",
  "acos",
  "atan",
  "sinh",
  "cosh",
  "tanh",
  "asinh",
  "acosh",
  "atanh",
  "deg",
  "rad",
  "sgn",
  "sort",
  "sort_desc",
  "timestamp",
  "absent",
];
const OVER_TIME = [
  "avg_over_time",
  "count_over_time",
  "last_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "present_over_time",
  "absent_over_time",
  "changes",
  "resets",
  "delta",
  "idelta",
  "deriv",
  "rate",
  "irate",
  "increase",
];
const DATE = ["days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour", "minute"];

/** Every function PromQL 2.42 knows except the native-histogram ones. */
export const FUNCTIONS: ReadonlyMap<string, FunctionSignature> = new Map([
  ...MATH.map((n) => sig(n, [V])),
  ...OVER_TIME.map((n) => sig(n, [M])),
  ...[...DATE, "month", "year"].map((n) => sig(n, [V], V, 1)),
  sig("clamp", [V, S, S]),
  sig("clamp_max", [V, S]),
  sig("clamp_min", [V, S]),
  sig("round", [V, S], V, 1),
  sig("histogram_quantile", [S, V]),
  sig("holt_winters", [M, S, S]),
  sig("label_replace", [V, STR, STR, STR, STR]),
  sig("label_join", [V, STR, STR, STR], V, -1),
  sig("predict_linear", [M, S]),
  sig("quantile_over_time", [S, M]),
  sig("scalar", [V], S),
  sig("vector", [S]),
  sig("time", [], S),
  sig("pi", [], S),
]);

/** The type of an expression's value. */
export function typeOf(e: Expr): ValueType {
  switch (e.type) {
    case "vector_selector":
      return "vector";
    case "matrix_selector":
    case "subquery":
      return "matrix";
    case "number":
      return "scalar";
    case "string":
      return "string";
    case "paren":
    case "unary":
      return typeOf(e.expr);
    case "call":
      return e.func.returnType;
    case "aggregate":
      return "vector";
    case "binary":
      return typeOf(e.lhs) === "scalar" && typeOf(e.rhs) === "scalar" ? "scalar" : "vector";
  }
}

/** Removes any number of enclosing parentheses. */
export function unwrapParens(e: Expr): Expr {
  while (e.type === "paren") e = e.expr;
  return e;
}
