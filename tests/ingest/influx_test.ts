/**
 * Influx line protocol: the examples of InfluxData's line protocol reference, VictoriaMetrics'
 * mapping, every field type and precision, per-line errors with line numbers, and a seeded
 * round trip through the escaping rules.
 */

import { assert, assertEquals } from "@std/assert";
import { type InfluxBatch, parseInflux, parsePrecision } from "../../src/ingest/influx.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { INFLUX_LINE_BYTES_MAX } from "../../src/limits.ts";

const NOW = 1_700_000_000_123;

function samples(b: InfluxBatch): [string, number, number][] {
  const out: [string, number, number][] = [];
  for (let i = 0; i < b.samples; i++) out.push([b.series[i]!.key, b.values[i]!, b.timestamps[i]!]);
  return out;
}

Deno.test("parseInflux() maps the reference's example line: string field skipped and counted", () => {
  const b = parseInflux(
    'myMeasurement,tag1=value1,tag2=value2 fieldKey="fieldValue" 1556813561098000000\n',
    "ns",
    NOW,
  );
  assertEquals(b.samples, 0);
  assertEquals(b.stringFieldsSkipped, 1);
  assertEquals(b.errors, []);
  assertEquals(b.lines, 1);
});

Deno.test("parseInflux() gives one series per numeric field, VictoriaMetrics-style", () => {
  const b = parseInflux(
    'cpu,host=server\\ 01,region=uswest value=1.0,msg="all systems nominal",busy=t,count=3i,big=7u 1434055562000000000',
    "ns",
    NOW,
  );
  assertEquals(samples(b), [
    ['cpu_value{host="server 01",region="uswest"}', 1, 1434055562000],
    ['cpu_busy{host="server 01",region="uswest"}', 1, 1434055562000],
    ['cpu_count{host="server 01",region="uswest"}', 3, 1434055562000],
    ['cpu_big{host="server 01",region="uswest"}', 7, 1434055562000],
  ]);
  assertEquals(b.series[0]!.name, "cpu_value");
  assertEquals(b.series[0]!.labels, [["host", "server 01"], ["region", "uswest"]]);
  assertEquals(b.stringFieldsSkipped, 1);
});

Deno.test("parseInflux() sorts tags into the canonical key and shares series objects", () => {
  const b = parseInflux(
    "m,b=2,a=1 x=1 1000000\nm,b=2,a=1 x=2 2000000\nm,a=1,b=2 x=3 3000000",
    "ns",
    NOW,
  );
  assertEquals(samples(b), [
    ['m_x{a="1",b="2"}', 1, 1],
    ['m_x{a="1",b="2"}', 2, 2],
    ['m_x{a="1",b="2"}', 3, 3],
  ]);
  assert(b.series[0] === b.series[1], "the same head text shares one series object");
  const plain = parseInflux("weather temperature=82 1465839830100400200", "ns", NOW);
  assertEquals(samples(plain), [["weather_temperature", 82, 1465839830100]]);
});

Deno.test("parseInflux() unescapes measurement, tag keys and values, field keys and strings", () => {
  const b = parseInflux(
    [
      "my\\,meas\\ urement,tag\\ key=tag\\ value,eq\\=k=v\\=1,slash=a\\b field\\ key=1,f\\,2=2",
      'strings,t=1 s="a \\"quoted\\" \\\\ str, with = specials",n=5',
      "back,t=end\\\\ n=1",
    ].join("\n"),
    "ns",
    NOW,
  );
  assertEquals(b.errors, []);
  assertEquals(samples(b), [
    ['my,meas urement_field key{eq=k="v=1",slash="a\\\\b",tag key="tag value"}', 1, NOW],
    ['my,meas urement_f,2{eq=k="v=1",slash="a\\\\b",tag key="tag value"}', 2, NOW],
    ['strings_n{t="1"}', 5, NOW],
    ['back_n{t="end\\\\"}', 1, NOW],
  ]);
  assertEquals(b.series[0]!.labels, [["eq=k", "v=1"], ["slash", "a\\b"], ["tag key", "tag value"]]);
  assertEquals(b.stringFieldsSkipped, 1);
});

Deno.test("parseInflux() reads every numeric form and boolean spelling", () => {
  const b = parseInflux(
    "t a=-1.234456e+78,b=.5,c=1.,d=+3,e=-0,f=1E-3,g=-42i,h=0u,i=T,j=True,k=TRUE,l=true,m=f,n=F,o=false,p=False,q=FALSE,r=12",
    "ns",
    NOW,
  );
  assertEquals(b.errors, []);
  assertEquals([...b.values], [
    -1.234456e+78,
    0.5,
    1,
    3,
    -0,
    0.001,
    -42,
    0,
    1,
    1,
    1,
    1,
    0,
    0,
    0,
    0,
    0,
    12,
  ]);
});

Deno.test("parseInflux() keeps integers exact to 2^53 and counts the ones beyond", () => {
  const b = parseInflux(
    "t a=9007199254740991i,b=9007199254740993i,c=-9223372036854775808i,d=18446744073709551615u",
    "ns",
    NOW,
  );
  assertEquals(b.errors, []);
  assertEquals([...b.values], [
    9007199254740991,
    9007199254740992,
    -9223372036854775808,
    18446744073709551615,
  ]);
  assertEquals(b.inexactIntegers, 3);
  const over = parseInflux(
    "t a=9223372036854775808i\nt b=18446744073709551616u\nt c=-1u",
    "ns",
    NOW,
  );
  assertEquals(over.errors.map((e) => e.line), [1, 2, 3]);
});

Deno.test("parseInflux() converts timestamps of every precision to milliseconds, rounding down", () => {
  const cases: [string, string, number][] = [
    ["ns", "1700000000123456789", 1700000000123],
    ["n", "1700000000123456789", 1700000000123],
    ["us", "1700000000123456", 1700000000123],
    ["u", "1700000000123456", 1700000000123],
    ["ms", "1700000000123", 1700000000123],
    ["s", "1700000000", 1700000000000],
    ["m", "28333333", 1699999980000],
    ["h", "472222", 1699999200000],
    ["ns", "-1500000", -2],
    ["ns", "-1000000", -1],
    ["ns", "999999", 0],
    ["ns", "0", 0],
    ["s", "-1", -1000],
  ];
  for (const [precision, ts, ms] of cases) {
    const b = parseInflux(`t v=1 ${ts}`, parsePrecision(precision)!, NOW);
    assertEquals(b.errors, [], `${precision} ${ts}`);
    assertEquals(b.timestamps[0], ms, `${precision} ${ts}`);
  }
  assertEquals(parsePrecision(""), "ns");
  assertEquals(parsePrecision("d"), undefined);
  const none = parseInflux("t v=1\nt v=2   \n", "ns", NOW);
  assertEquals([...none.timestamps], [NOW, NOW]);
});

Deno.test("parseInflux() skips comments, blank lines and CRLF endings", () => {
  const b = parseInflux(
    "# a comment\r\n\r\n  \nt v=1 1000000\r\n   # indented comment\nt v=2 2000000\r\n",
    "ns",
    NOW,
  );
  assertEquals(b.errors, []);
  assertEquals(samples(b), [["t_v", 1, 1], ["t_v", 2, 2]]);
  assertEquals(b.lines, 6);
});

Deno.test("parseInflux() reports each bad line by number and keeps the good ones", () => {
  const body = [
    "ok v=1 1000000", // 1
    "nofields", // 2
    "t v=1,w=abc", // 3
    't s="unterminated', // 4
    "t v=1 12x", // 5
    ",t=1 v=1", // 6 missing measurement
    "t,host v=1", // 7 tag without value
    "t,host= v=1", // 8 empty tag value
    "t v=", // 9
    "t =1", // 10
    "t v=1,", // 11
    "t,__name__=x v=1", // 12
    "t,a=1,a=2 v=1", // 13
    "t v=1 99999999999999999999", // 14
    "t v=1e999", // 15
    "ok v=2 2000000", // 16
    "t v=1i2i", // 17
  ].join("\n");
  const b = parseInflux(body, "ns", NOW);
  assertEquals(b.errors.map((e) => e.line), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17]);
  assertEquals(samples(b), [["ok_v", 1, 1], ["ok_v", 2, 2]]);
  assert(b.errors[1]!.message.includes("abc"), b.errors[1]!.message);
  const long = parseInflux(`t v=1,${"x".repeat(INFLUX_LINE_BYTES_MAX)}=1`, "ns", NOW);
  assertEquals(long.errors.length, 1);
  assert(long.errors[0]!.message.startsWith("line too long"));
});

Deno.test("parseInflux() drops the samples of a line that fails after its first fields", () => {
  const b = parseInflux("t a=1,b=2,c=oops 1000000\nt a=3", "ns", NOW);
  assertEquals(b.errors.map((e) => e.line), [1]);
  assertEquals(samples(b), [["t_a", 3, NOW]]);
});

/** Escapes a name as line protocol requires (`,` ` ` `=` and `\`). */
function escapeName(s: string, measurement: boolean): string {
  return s.replace(measurement ? /[, \\]/g : /[, =\\]/g, (c) => "\\" + c);
}

Deno.test("parseInflux() round-trips random names through the escaping rules (seeded)", () => {
  const seed = seedFromEnv();
  const rng = new Rng(seed);
  const alphabet = ["a", "Z", "_", "0", ",", " ", "=", "\\", '"', "é", "-", "."];
  const word = (min: number) => {
    let s = "";
    const n = min + rng.int(6);
    for (let i = 0; i < n; i++) s += rng.pick(alphabet);
    return s;
  };
  for (let round = 0; round < 300; round++) {
    // A name must not end in a lone backslash (it would escape the separator), as in Telegraf.
    const safe = (s: string) => (s.endsWith("\\") ? s + "x" : s);
    const measurement = safe(word(1)).replace(/^#/, "m");
    const tags = new Map<string, string>();
    for (let i = 0; i < rng.int(4); i++) tags.set(safe(word(1)), safe(word(1)));
    const field = safe(word(1));
    const value = rng.int(1000) / 8;
    const tagText = [...tags].map(([k, v]) => `,${escapeName(k, false)}=${escapeName(v, false)}`)
      .join("");
    const line = `${escapeName(measurement, true)}${tagText} ${
      escapeName(field, false)
    }=${value} 5000000`;
    const b = parseInflux(line, "ns", NOW);
    assertEquals(b.errors, [], `seed ${seed}: ${line}`);
    assertEquals(b.samples, 1, `seed ${seed}: ${line}`);
    assertEquals(b.series[0]!.name, `${measurement}_${field}`, `seed ${seed}: ${line}`);
    const want = [...tags].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    assertEquals(b.series[0]!.labels, want, `seed ${seed}: ${line}`);
    assertEquals(b.values[0], value);
    assertEquals(b.timestamps[0], 5);
  }
});

Deno.test("parseInflux() reads float fields exactly as Number() does (seeded)", () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed}`);
  const rng = new Rng(seed);
  const texts = [
    "0",
    "-0",
    "+5",
    "1.",
    ".5",
    "-.5",
    "007",
    "0.1",
    "1e3",
    "-1.5E-3",
    "123456789012345",
  ];
  texts.push("1234567890123456", "0.000000000000001", "9007199254740993", "1.7976931348623157e308");
  for (let k = 0; k < 3000; k++) {
    const digits = Array.from({ length: 1 + rng.int(18) }, () => String(rng.int(10))).join("");
    const at = rng.int(digits.length + 1);
    const sign = ["", "-", "+"][rng.int(3)]!;
    texts.push(sign + (rng.int(4) === 0 ? digits : `${digits.slice(0, at)}.${digits.slice(at)}`));
  }
  const body = texts.map((t, i) => `m v=${t} ${i}000000`).join("\n");
  const b = parseInflux(body, "ns", NOW);
  assertEquals(b.errors, []);
  assertEquals(b.samples, texts.length);
  for (let i = 0; i < texts.length; i++) {
    assert(Object.is(b.values[i], Number(texts[i])), `${texts[i]}: ${b.values[i]}`);
  }
});
