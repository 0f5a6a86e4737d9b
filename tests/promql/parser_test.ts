/**
 * The PromQL parser: precedence, modifiers, literals and the error messages Prometheus 2.42
 * gives for the same mistakes.
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import { type Expr, ParseError, parseExpr, parseSelector } from "../../src/promql/mod.ts";
import { parseDurationMs, parseNumber } from "../../src/promql/lexer.ts";
import { compileRe2, translateRe2 } from "../../src/promql/regex.ts";

/** A compact rendering of a tree, enough to see its shape. */
function show(e: Expr): string {
  switch (e.type) {
    case "number":
      return String(e.value);
    case "string":
      return JSON.stringify(e.value);
    case "paren":
      return `(${show(e.expr)})`;
    case "unary":
      return `${e.op}${show(e.expr)}`;
    case "binary":
      return `[${show(e.lhs)} ${e.op}${e.returnBool ? " bool" : ""} ${show(e.rhs)}]`;
    case "vector_selector":
      return `${e.name || "{}"}${e.offsetMs ? ` offset ${e.offsetMs}` : ""}${
        e.at ? ` @ ${e.at.kind === "time" ? e.at.ms : e.at.kind}` : ""
      }`;
    case "matrix_selector":
      return `${show(e.selector)}[${e.rangeMs}]`;
    case "subquery":
      return `${show(e.expr)}[${e.rangeMs}:${e.stepMs}]${
        e.offsetMs ? ` offset ${e.offsetMs}` : ""
      }`;
    case "call":
      return `${e.func.name}(${e.args.map(show).join(", ")})`;
    case "aggregate":
      return `${e.op}${
        e.grouping.length || e.without ? ` ${e.without ? "without" : "by"}(${e.grouping})` : ""
      }(${e.param ? show(e.param) + ", " : ""}${show(e.expr)})`;
  }
}

Deno.test("parseExpr() follows PromQL's precedence and associativity", () => {
  const cases: [string, string][] = [
    ["1 + 2 * 3", "[1 + [2 * 3]]"],
    ["2 ^ 3 ^ 2", "[2 ^ [3 ^ 2]]"],
    ["-2 ^ 2", "-[2 ^ 2]"],
    ["-a * b", "[-a * b]"],
    ["a or b and c unless d", "[a or [[b and c] unless d]]"],
    ["a > bool 1 == 2", "[[a > bool 1] == 2]"],
    ["a + b % c atan2 d", "[a + [[b % c] atan2 d]]"],
    ["- 1", "-1"],
    ["+a", "+a"],
    ["(1 + 2) * 3", "[([1 + 2]) * 3]"],
  ];
  for (const [q, want] of cases) assertEquals(show(parseExpr(q)), want, q);
});

Deno.test("parseExpr() reads selectors, ranges, subqueries, offset and @", () => {
  const cases: [string, string][] = [
    ["x offset 5m", "x offset 300000"],
    ["x offset -1h30m", "x offset -5400000"],
    ["x @ 1700000000.5 offset 1m", "x offset 60000 @ 1700000000500"],
    ["x offset 1m @ start()", "x offset 60000 @ start"],
    ["rate(x[5m] @ end())", "rate(x @ end[300000])"],
    ["x[1h:5m] offset 10m", "x[3600000:300000] offset 600000"],
    ["max_over_time(rate(x[1m])[10m:])", "max_over_time(rate(x[60000])[600000:0])"],
    ['{__name__="x", job=~"a.*"}', "{}"],
    ["job:rate5m", "job:rate5m"],
    ["sum by (a, b) (x)", "sum by(a,b)(x)"],
    ["sum(x) without (a)", "sum without(a)(x)"],
    ["topk(3, x)", "topk(3, x)"],
    ['count_values("v", x)', 'count_values("v", x)'],
    ["SUM(x)", "sum(x)"],
    ["x # a comment\n + 1", "[x + 1]"],
  ];
  for (const [q, want] of cases) assertEquals(show(parseExpr(q)), want, q);
  const m = parseSelector('up{job="a", instance!~"b|c"}');
  assertEquals(m.map((x) => `${x.name}${x.op}${x.value}`), [
    "job=a",
    "instance!~b|c",
    "__name__=up",
  ]);
});

Deno.test("parseExpr() reads numbers, strings and durations as Go does", () => {
  assertEquals(parseNumber("010"), 8);
  assertEquals(parseNumber("0x1F"), 31);
  assertEquals(parseNumber("1e3"), 1000);
  assertEquals(parseNumber(".5"), 0.5);
  assertEquals(parseNumber("Inf"), Infinity);
  assert(Number.isNaN(parseNumber("NaN")!));
  assertEquals(
    parseDurationMs("1y2w3d4h5m6s7ms"),
    31536000000 + 1209600000 + 259200000 + 14400000 + 300000 + 6000 + 7,
  );
  assertEquals(parseDurationMs("5m1h"), undefined);
  assertEquals(parseDurationMs("1h1h"), undefined);
  const str = (q: string) => {
    const e = parseExpr(q);
    return e.type === "string" ? e.value : undefined;
  };
  assertEquals(str(`"a\\tb\\u00e9\\x41\\101\\""`), 'a\tbéAA"');
  assertEquals(str(`'it\\'s'`), "it's");
  assertEquals(str("`raw\\n`"), "raw\\n");
  assertThrows(() => parseExpr(`"\\q"`), ParseError, "unknown escape sequence");
});

Deno.test("parseExpr() rejects what Prometheus rejects, with its messages", () => {
  const cases: [string, string][] = [
    ["", "1:1: parse error: no expression found in input"],
    ["sum(", "unclosed left parenthesis"],
    ["1 > 2", "comparisons between scalars must use BOOL modifier"],
    ["x + bool 1", "bool modifier can only be used on comparison operators"],
    ["rate(x)", 'expected type range vector in call to function "rate", got instant vector'],
    ["rate(x[5m], 1)", 'expected 1 argument(s) in call to "rate", got 2'],
    ["round()", 'expected at least 1 argument(s) in call to "round", got 0'],
    ["round(x, 1, 2)", 'expected at most 2 argument(s) in call to "round", got 3'],
    ["nosuch(x)", 'unknown function with name "nosuch"'],
    ["{}", "vector selector must contain at least one non-empty matcher"],
    ['{a=~".*"}', "vector selector must contain at least one non-empty matcher"],
    ['x{__name__="y"}', 'metric name must not be set twice: "x" or "y"'],
    ["sum(x) offset 5m", "offset modifier must be preceded by an instant vector selector"],
    ["x offset 5m offset 1m", "offset may not be set multiple times"],
    ["x[5m] offset 1m [1m]", "ranges only allowed for vector selectors"],
    ["x offset 1m [5m]", "no offset modifiers allowed before range"],
    ["(x)[5m]", "ranges only allowed for vector selectors"],
    ["x[5m][1m:]", "subquery is only allowed on instant vector, got matrix instead"],
    ["x[0s]", "duration must be greater than 0"],
    ["x and 1", 'set operator "and" not allowed in binary scalar expression'],
    ["x and on(a) group_left y", 'no grouping allowed for "and" operation'],
    ["1 + on(a) 2", "vector matching only allowed between instant vectors"],
    ["x + on(a) group_left(a) y", 'label "a" must not occur in ON and GROUP clause at once'],
    ["topk(x)", "wrong number of arguments for aggregate expression provided, expected 2, got 1"],
    ["sum(x[5m])", "expected type instant vector in aggregation expression, got range vector"],
    ['x{a=~"("}', "error parsing regexp"],
    ["rate(x[5m],)", "trailing commas not allowed in function call args"],
    ["x @ Inf", "timestamp out of bounds for @ modifier"],
    ["-x[5m]", "unary expression only allowed on expressions of type scalar or instant vector"],
  ];
  for (const [q, want] of cases) {
    const err = assertThrows(() => parseExpr(q), ParseError);
    assert(err.message.includes(want), `${q}: ${err.message}`);
    assert(/^\d+:\d+: parse error: /.test(err.message), `${q}: ${err.message}`);
  }
  const deep = "(".repeat(300) + "1" + ")".repeat(300);
  assertThrows(() => parseExpr(deep), ParseError, "nested too deeply");
});

Deno.test("compileRe2() keeps RE2's meaning where JavaScript differs", () => {
  const cases: [string, string, boolean][] = [
    ["a.c", "a\nc", false],
    ["a.c", "a\rc", true], // Go's . matches \r; JavaScript's does not
    ["(?s)a.c", "a\nc", true],
    ["(?i)abc", "ABC", true],
    ["x(?i)a|b", "B", true],
    ["x(?i)a|b", "xA", true],
    ["\\s+", "\t\n", true],
    ["\\s", "\v", false], // RE2's \s has no \v
    ["[[:alpha:]]+", "abcXYZ", true],
    ["[[:digit:]]", "a", false],
    ["\\pL+", "héllo", true],
    ["\\p{Greek}+", "αβγ", true],
    ["a{2}", "aa", true],
    ["a{", "a{", true], // not a repetition: a literal brace
    ["a}", "a}", true],
    ["\\Qa.b\\E", "a.b", true],
    ["\\Qa.b\\E", "axb", false],
    ["(?P<x>a)b", "ab", true],
    ["\\x{41}", "A", true],
    ["\\-\\_", "-_", true],
    [".", "😀", true], // one code point, like Go's rune
    ["foo", "foobar", false], // anchored at both ends
  ];
  for (const [re, s, want] of cases) {
    assertEquals(
      compileRe2(re).test(s),
      want,
      `${re} on ${JSON.stringify(s)} (${translateRe2(re)})`,
    );
  }
  for (
    const bad of [
      "(?=a)",
      "(?!a)",
      "(?<=a)",
      "a\\1",
      "(?U)a",
      "(",
      "a)",
      "[a",
      "\\z[\\A]",
      "a{1001}",
    ]
  ) {
    assertThrows(() => compileRe2(bad), SyntaxError, undefined, bad);
  }
});
