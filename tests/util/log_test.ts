/** The log line formats: strict logfmt and JSON lines that journald, Loki and Vector parse. */

import { assertEquals } from "@std/assert";
import {
  formatJsonLogLine,
  formatLogLine,
  isoTime,
  type LogFields,
  type LogLevel,
  parseLogfmt,
  ThrottledLog,
} from "../../src/util/log.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";

const NOW = new Date("2026-11-29T22:09:21.123Z");

Deno.test("formatLogLine writes strict logfmt: quoted msg, bare simple values", () => {
  assertEquals(
    formatLogLine("info", "listening", { resp: "127.0.0.1:7878", auth: false, n: 3 }, NOW),
    'time=2026-11-29T22:09:21.123Z level=info msg="listening" resp=127.0.0.1:7878 auth=false n=3',
  );
});

Deno.test("formatLogLine quotes and escapes values with spaces, quotes, = and newlines", () => {
  const line = formatLogLine(
    "warn",
    'a "quoted"\nmessage',
    {
      reason: "SHUTDOWN command",
      eq: "a=b",
      q: 'say "hi"',
      nl: "x\ny",
      empty: "",
      skip: undefined,
    },
    NOW,
  );
  assertEquals(
    line,
    'time=2026-11-29T22:09:21.123Z level=warn msg="a \\"quoted\\"\\nmessage" ' +
      'reason="SHUTDOWN command" eq="a=b" q="say \\"hi\\"" nl="x\\ny" empty=""',
  );
  assertEquals(parseLogfmt(line), {
    time: "2026-11-29T22:09:21.123Z",
    level: "warn",
    msg: 'a "quoted"\nmessage',
    reason: "SHUTDOWN command",
    eq: "a=b",
    q: 'say "hi"',
    nl: "x\ny",
    empty: "",
  });
});

Deno.test("formatLogLine renames fields that would shadow time, level or msg", () => {
  const parsed = parseLogfmt(formatLogLine("error", "m", { level: "x", "bad key": 1 }, NOW));
  assertEquals(parsed?.level, "error");
  assertEquals(parsed?.["field.level"], "x");
  assertEquals(parsed?.["bad_key"], "1");
});

Deno.test("formatJsonLogLine writes one JSON object per line", () => {
  const line = formatJsonLogLine("info", "stopped", { code: 0, big: 12n, msg: "x" }, NOW);
  assertEquals(JSON.parse(line), {
    time: "2026-11-29T22:09:21.123Z",
    level: "info",
    msg: "stopped",
    code: 0,
    big: "12",
    "field.msg": "x",
  });
  assertEquals(line.includes("\n"), false);
});

Deno.test("parseLogfmt refuses lines that are not logfmt", () => {
  assertEquals(parseLogfmt("2026-11-29 info listening"), undefined);
  assertEquals(parseLogfmt('msg="unterminated'), undefined);
});

Deno.test("ThrottledLog: one line per interval at its level, the rest at debug, then the count", () => {
  const lines: [LogLevel, string, LogFields | undefined][] = [];
  const log = new ThrottledLog(
    (level, message, fields) => lines.push([level, message, fields]),
    60_000,
  );
  log.log("warn", "bad handshake", { addr: "a" });
  log.log("warn", "bad handshake", { addr: "b" });
  log.log("warn", "bad handshake", { addr: "c" });
  assertEquals(lines, [
    ["warn", "bad handshake", { addr: "a" }],
    ["debug", "bad handshake", { addr: "b" }],
    ["debug", "bad handshake", { addr: "c" }],
  ]);
  const eager = new ThrottledLog(
    (level, message, fields) => lines.push([level, message, fields]),
    0,
  );
  lines.length = 0;
  eager.log("warn", "x", {});
  eager.log("info", "x", {});
  assertEquals(lines.map(([level]) => level), ["warn", "info"]);
});

Deno.test("isoTime writes what toISOString writes, for years 0 to 9999", () => {
  const rng = new Rng(seedFromEnv());
  const edges = [
    0,
    1,
    9,
    10,
    99,
    100,
    999,
    Date.UTC(2026, 0, 1),
    Date.UTC(1970, 11, 31, 23, 59, 59, 999),
  ];
  const max = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
  // Date.UTC maps the years 0-99 to 1900-1999: year 0 is 1,900 years before 1900.
  const min = new Date(0).setUTCFullYear(0, 0, 1);
  for (let i = 0; i < 2000; i++) {
    const ms = i < edges.length ? edges[i]! : min + Math.floor(rng.next() * (max - min));
    const d = new Date(ms);
    assertEquals(isoTime(d), d.toISOString(), `at ${ms}`);
  }
});
