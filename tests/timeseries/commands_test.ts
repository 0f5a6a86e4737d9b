/**
 * TS.* commands over RESP against RedisTimeSeries 1.8's documented replies (the examples of
 * its command pages, reply for reply) and error strings, and the keyspace commands across
 * types (TYPE, WRONGTYPE, DEL, EXISTS, RENAME, COPY, EXPIRE, KEYS, SCAN TYPE).
 */

import { assert, assertEquals } from "@std/assert";
import { type Plain, withServer } from "./_resp.ts";
import { formatValue } from "../../src/server/commands/_ts_args.ts";

const OK = "+OK";

Deno.test("formatValue() prints numbers as RedisTimeSeries 1.8 does", () => {
  // Expected strings produced by RedisTimeSeries 1.8's own printer (its dragonbox to_chars).
  const cases: [number, string][] = [
    [40, "40"],
    [0.5, "5E-1"],
    [21.37, "21.37"],
    [1e20, "1E20"],
    [123456789012345678, "1.2345678901234568E17"],
    [0.001, "1E-3"],
    [1.5e-7, "1.5E-7"],
    [-3.25, "-3.25"],
    [1e15, "1000000000000000"],
    [1e16, "1E16"],
    [12345.678, "12345.678"],
    [0.1, "1E-1"],
    [0.30000000000000004, "3.0000000000000004E-1"],
    [5e-324, "5E-324"],
    [5e15, "5E15"],
    [9007199254740992, "9007199254740992"],
    [4503599627370497, "4503599627370497"],
    [2.5e15, "2500000000000000"],
    [1234.5, "1234.5"],
    [1.5e-16, "1.5E-16"],
    [1.7976931348623157e308, "1.7976931348623157E308"],
    [NaN, "NaN"],
  ];
  for (const [v, s] of cases) assertEquals(formatValue(v), s, `${v}`);
});

Deno.test("TS.CREATE, TS.MADD, TS.RANGE and TS.DEL answer as RedisTimeSeries's documentation", async () => {
  await withServer(async (c) => {
    assertEquals(
      await c.send("TS.CREATE", "temp:TLV", "LABELS", "type", "temp", "location", "TLV"),
      OK,
    );
    assertEquals(
      await c.send("TS.CREATE", "temp:JLM", "LABELS", "type", "temp", "location", "JLM"),
      OK,
    );
    assertEquals(
      await c.send(
        "TS.MADD",
        "temp:TLV",
        1000,
        30,
        "temp:TLV",
        1010,
        35,
        "temp:TLV",
        1020,
        9999,
        "temp:TLV",
        1030,
        40,
      ),
      [1000, 1010, 1020, 1030],
    );
    assertEquals(
      await c.send(
        "TS.MADD",
        "temp:JLM",
        1005,
        30,
        "temp:JLM",
        1015,
        35,
        "temp:JLM",
        1025,
        9999,
        "temp:JLM",
        1035,
        40,
      ),
      [1005, 1015, 1025, 1035],
    );
    assertEquals(await c.send("TS.RANGE", "temp:TLV", "-", "+", "FILTER_BY_VALUE", -100, 100), [
      [1000, "+30"],
      [1010, "+35"],
      [1030, "+40"],
    ]);
    assertEquals(
      await c.send(
        "TS.RANGE",
        "temp:TLV",
        "-",
        "+",
        "FILTER_BY_VALUE",
        -100,
        100,
        "AGGREGATION",
        "avg",
        1000,
      ),
      [[1000, "+35"]],
    );
    assertEquals(await c.send("TS.GET", "temp:JLM"), [1035, "+40"]);
    assertEquals(await c.send("TS.MGET", "WITHLABELS", "FILTER", "type=temp"), [
      ["temp:JLM", [["type", "temp"], ["location", "JLM"]], [1035, "+40"]],
      ["temp:TLV", [["type", "temp"], ["location", "TLV"]], [1030, "+40"]],
    ]);
    assertEquals(await c.send("TS.MGET", "SELECTED_LABELS", "location", "FILTER", "type=temp"), [
      ["temp:JLM", [["location", "JLM"]], [1035, "+40"]],
      ["temp:TLV", [["location", "TLV"]], [1030, "+40"]],
    ]);
    assertEquals(await c.send("TS.DEL", "temp:TLV", 1000, 1030), 4);
    assertEquals(await c.send("TS.RANGE", "temp:TLV", "-", "+"), []);
    assertEquals(await c.send("TS.QUERYINDEX", "location=(TLV,JLM)"), ["temp:JLM", "temp:TLV"]);
    assertEquals(await c.send("TS.QUERYINDEX", "location=~J.*"), ["temp:JLM"]);
    assertEquals(await c.send("TS.QUERYINDEX", "type=temp", "location!~T.V"), ["temp:JLM"]);
  });
});

Deno.test("TS.RANGE ALIGN and TS.MRANGE GROUPBY answer as RedisTimeSeries's documentation", async () => {
  await withServer(async (c) => {
    await c.send("TS.CREATE", "stock:A", "LABELS", "type", "stock", "name", "A");
    await c.send("TS.CREATE", "stock:B", "LABELS", "type", "stock", "name", "B");
    await c.send("TS.MADD", "stock:A", 1000, 100, "stock:A", 1010, 110, "stock:A", 1020, 120);
    await c.send("TS.MADD", "stock:B", 1000, 120, "stock:B", 1010, 110, "stock:B", 1020, 100);
    await c.send("TS.MADD", "stock:A", 2000, 200, "stock:A", 2010, 210, "stock:A", 2020, 220);
    await c.send("TS.MADD", "stock:B", 2000, 220, "stock:B", 2010, 210, "stock:B", 2020, 200);
    await c.send("TS.MADD", "stock:A", 3000, 300, "stock:A", 3010, 310, "stock:A", 3020, 320);
    await c.send("TS.MADD", "stock:B", 3000, 320, "stock:B", 3010, 310, "stock:B", 3020, 300);
    assertEquals(
      await c.send("TS.RANGE", "stock:A", "-", "+", "ALIGN", 10, "AGGREGATION", "min", 20),
      [
        [990, "+100"],
        [1010, "+110"],
        [1990, "+200"],
        [2010, "+210"],
        [2990, "+300"],
        [3010, "+310"],
      ],
    );
    assertEquals(
      await c.send("TS.RANGE", "stock:A", 5, "+", "ALIGN", "-", "AGGREGATION", "min", 20),
      [
        [985, "+100"],
        [1005, "+110"],
        [1985, "+200"],
        [2005, "+210"],
        [2985, "+300"],
        [3005, "+310"],
      ],
    );
    assertEquals(
      await c.send(
        "TS.MRANGE",
        "-",
        "+",
        "WITHLABELS",
        "AGGREGATION",
        "avg",
        1000,
        "FILTER",
        "type=stock",
        "GROUPBY",
        "type",
        "REDUCE",
        "max",
      ),
      [[
        "type=stock",
        [["type", "stock"], ["__reducer__", "max"], ["__source__", "stock:A,stock:B"]],
        [[1000, "+110"], [2000, "+210"], [3000, "+310"]],
      ]],
    );
    assertEquals(
      await c.send(
        "TS.MRANGE",
        "-",
        "+",
        "WITHLABELS",
        "FILTER",
        "type=stock",
        "GROUPBY",
        "type",
        "REDUCE",
        "max",
      ),
      [[
        "type=stock",
        [["type", "stock"], ["__reducer__", "max"], ["__source__", "stock:A,stock:B"]],
        [
          [1000, "+120"],
          [1010, "+110"],
          [1020, "+120"],
          [2000, "+220"],
          [2010, "+210"],
          [2020, "+220"],
          [
            3000,
            "+320",
          ],
          [3010, "+310"],
          [3020, "+320"],
        ],
      ]],
    );
    assertEquals(await c.send("TS.MREVRANGE", "-", "+", "COUNT", 1, "FILTER", "name=(A,B)"), [
      ["stock:A", [], [[3020, "+320"]]],
      ["stock:B", [], [[3020, "+300"]]],
    ]);
  });
});

Deno.test("TS.MRANGE SELECTED_LABELS, FILTER_BY_VALUE and GROUPBY follow the documentation", async () => {
  await withServer(async (c) => {
    assertEquals(
      await c.send(
        "TS.ADD",
        "ts1",
        1548149180000,
        90,
        "labels",
        "metric",
        "cpu",
        "metric_name",
        "system",
        "team",
        "NY",
      ),
      1548149180000,
    );
    assertEquals(await c.send("TS.ADD", "ts1", 1548149185000, 45), 1548149185000);
    assertEquals(
      await c.send(
        "TS.ADD",
        "ts2",
        1548149180000,
        99,
        "labels",
        "metric",
        "cpu",
        "metric_name",
        "user",
        "team",
        "SF",
      ),
      1548149180000,
    );
    assertEquals(
      await c.send("TS.MRANGE", "-", "+", "SELECTED_LABELS", "team", "FILTER", "metric=cpu"),
      [
        ["ts1", [["team", "NY"]], [[1548149180000, "+90"], [1548149185000, "+45"]]],
        ["ts2", [["team", "SF"]], [[1548149180000, "+99"]]],
      ],
    );
    assertEquals(
      await c.send("TS.MRANGE", "-", "+", "FILTER_BY_VALUE", 90, 100, "FILTER", "metric=cpu"),
      [
        ["ts1", [], [[1548149180000, "+90"]]],
        ["ts2", [], [[1548149180000, "+99"]]],
      ],
    );
    assertEquals(
      await c.send(
        "TS.MRANGE",
        "-",
        "+",
        "WITHLABELS",
        "FILTER",
        "metric=cpu",
        "GROUPBY",
        "metric_name",
        "REDUCE",
        "max",
      ),
      [
        ["metric_name=system", [["metric_name", "system"], ["__reducer__", "max"], [
          "__source__",
          "ts1",
        ]], [
          [1548149180000, "+90"],
          [1548149185000, "+45"],
        ]],
        ["metric_name=user", [["metric_name", "user"], ["__reducer__", "max"], [
          "__source__",
          "ts2",
        ]], [
          [1548149180000, "+99"],
        ]],
      ],
    );
  });
});

Deno.test("TS.INFO, TS.INCRBY and TS.CREATERULE answer as RedisTimeSeries 1.8", async () => {
  await withServer(async (c) => {
    await c.send(
      "TS.CREATE",
      "telemetry:kitchen:temperature",
      "LABELS",
      "room",
      "kitchen",
      "type",
      "temperature",
    );
    const info = await c.send("TS.INFO", "telemetry:kitchen:temperature") as Plain[];
    assertEquals(info.filter((_, i) => i % 2 === 0), [
      "+totalSamples",
      "+memoryUsage",
      "+firstTimestamp",
      "+lastTimestamp",
      "+retentionTime",
      "+chunkCount",
      "+chunkSize",
      "+chunkType",
      "+duplicatePolicy",
      "+labels",
      "+sourceKey",
      "+rules",
    ]);
    assertEquals(info[1], 0);
    assertEquals(info[5], 0);
    assertEquals(info[13], 4096);
    assertEquals(info[15], "+compressed");
    assertEquals(info[17], null);
    assertEquals(info[19], [["room", "kitchen"], ["type", "temperature"]]);
    assertEquals(info[21], null);
    assertEquals(info[23], []);
    assertEquals(await c.send("TS.INCRBY", "a", 232, "TIMESTAMP", 1657811829000), 1657811829000);
    assertEquals(await c.send("TS.INCRBY", "a", 157, "TIMESTAMP", 1657811829000), 1657811829000);
    assertEquals(await c.send("TS.INCRBY", "a", 432, "TIMESTAMP", 1657811829000), 1657811829000);
    assertEquals(await c.send("TS.GET", "a"), [1657811829000, "+821"]);
    assertEquals(
      await c.send("TS.INCRBY", "a", 100, "TIMESTAMP", 50),
      "-TSDB: for incrby/decrby, timestamp should be newer than the lastest one",
    );
    assertEquals(await c.send("TS.DECRBY", "a", 21, "TIMESTAMP", 1657811829001), 1657811829001);
    assertEquals(await c.send("TS.GET", "a"), [1657811829001, "+800"]);

    await c.send("TS.CREATE", "temp:TLV", "LABELS", "type", "temp", "location", "TLV");
    await c.send("TS.CREATE", "dailyAvgTemp:TLV", "LABELS", "type", "temp", "location", "TLV");
    assertEquals(
      await c.send("TS.CREATERULE", "temp:TLV", "dailyAvgTemp:TLV", "AGGREGATION", "twa", 86400000),
      OK,
    );
    await c.send("TS.CREATE", "dailyDiffTemp:TLV", "LABELS", "type", "temp", "location", "TLV");
    assertEquals(
      await c.send(
        "TS.CREATERULE",
        "temp:TLV",
        "dailyDiffTemp:TLV",
        "AGGREGATION",
        "range",
        86400000,
        21600000,
      ),
      OK,
    );
    const tlv = await c.send("TS.INFO", "temp:TLV") as Plain[];
    assertEquals(tlv[23], [
      ["dailyAvgTemp:TLV", 86400000, "+TWA", 0],
      ["dailyDiffTemp:TLV", 86400000, "+RANGE", 21600000],
    ]);
    const dst = await c.send("TS.INFO", "dailyDiffTemp:TLV") as Plain[];
    assertEquals(dst[21], "temp:TLV");
    assertEquals(await c.send("TS.DELETERULE", "temp:TLV", "dailyAvgTemp:TLV"), OK);
    assertEquals(
      await c.send("TS.DELETERULE", "temp:TLV", "dailyAvgTemp:TLV"),
      "-ERR TSDB: compaction rule does not exist",
    );
  });
});

Deno.test("TS rules: buckets close on the next bucket's sample, chains and BACKFILL work, LATEST shows the open bucket", async () => {
  await withServer(async (c) => {
    await c.send("TS.CREATE", "raw");
    await c.send("TS.CREATE", "per10");
    await c.send("TS.CREATE", "per20");
    for (let t = 0; t < 35; t++) await c.send("TS.ADD", "raw", t, t);
    assertEquals(
      await c.send("TS.CREATERULE", "raw", "per10", "AGGREGATION", "sum", 10, "BACKFILL"),
      OK,
    );
    assertEquals(await c.send("TS.RANGE", "per10", "-", "+"), [[0, "+45"], [10, "+145"], [
      20,
      "+245",
    ]]);
    assertEquals(await c.send("TS.CREATERULE", "per10", "per20", "AGGREGATION", "max", 20), OK);
    assertEquals(
      await c.send("TS.CREATERULE", "per20", "raw", "AGGREGATION", "max", 20),
      "-ERR TSDB: the rule would create a cycle",
    );
    for (let t = 35; t < 62; t++) await c.send("TS.ADD", "raw", t, t);
    assertEquals(await c.send("TS.RANGE", "per10", 30, "+"), [[30, "+345"], [40, "+445"], [
      50,
      "+545",
    ]]);
    // per20 saw per10's 20, 30 (bucket 20) closed by 40: max 345; its bucket 40 is still open.
    assertEquals(await c.send("TS.RANGE", "per20", "-", "+"), [[20, "+345"]]);
    assertEquals(await c.send("TS.RANGE", "per10", 50, "+", "LATEST"), [[50, "+545"], [
      60,
      "+121",
    ]]);
    assertEquals(await c.send("TS.GET", "per10", "LATEST"), [60, "+121"]);
    // A late sample into a closed bucket recomputes it.
    assertEquals(await c.send("TS.ADD", "raw", 3, 100, "ON_DUPLICATE", "LAST"), 3);
    assertEquals(await c.send("TS.RANGE", "per10", 0, 0), [[0, "+142"]]);
  });
});

Deno.test("TS rules end the moment either series is deleted, as RedisTimeSeries does", async () => {
  await withServer(async (c) => {
    const infoField = async (key: string, field: string) => {
      const info = await c.send("TS.INFO", key) as Plain[];
      return info[info.indexOf(`+${field}`) + 1];
    };
    // DEL of the source: the destination has no source and can be fed by a new rule at once.
    await c.send("TS.CREATE", "src");
    await c.send("TS.CREATE", "dst");
    assertEquals(await c.send("TS.CREATERULE", "src", "dst", "AGGREGATION", "avg", 60000), OK);
    assertEquals(await infoField("dst", "sourceKey"), "src");
    assertEquals(await c.send("DEL", "src"), 1);
    assertEquals(await infoField("dst", "sourceKey"), null);
    await c.send("TS.CREATE", "other");
    assertEquals(await c.send("TS.CREATERULE", "other", "dst", "AGGREGATION", "max", 1000), OK);
    assertEquals(await infoField("dst", "sourceKey"), "other");
    // DEL of the destination: the source lists no rule, and a new series of that name is not fed.
    assertEquals(await c.send("DEL", "dst"), 1);
    assertEquals(await infoField("other", "rules"), []);
    await c.send("TS.CREATE", "dst");
    await c.send("TS.ADD", "other", 0, 1);
    await c.send("TS.ADD", "other", 5000, 2);
    assertEquals(await c.send("TS.RANGE", "dst", "-", "+"), []);
    assertEquals(
      await c.send("TS.DELETERULE", "other", "dst"),
      "-ERR TSDB: compaction rule does not exist",
    );
  });
});

Deno.test("MODULE LIST reports the built-in time series; MODULE LOAD and UNLOAD are refused", async () => {
  await withServer(async (c) => {
    // Tools look for a `timeseries` module before they offer their time-series views.
    assertEquals(await c.send("MODULE", "LIST"), [[
      "name",
      "timeseries",
      "ver",
      10800,
      "path",
      "built-in",
      "args",
      [],
    ]]);
    assert(String(await c.send("MODULE", "LOAD", "/x/redistimeseries.so")).startsWith("-ERR"));
    assert(String(await c.send("MODULE", "UNLOAD", "timeseries")).startsWith("-ERR"));
    assertEquals(
      await c.send("MODULE", "LIST", "x"),
      "-ERR wrong number of arguments for 'module|list' command",
    );
    assertEquals(
      await c.send("MODULE", "NOPE"),
      "-ERR unknown subcommand 'NOPE'. Try MODULE HELP.",
    );
  });
});

Deno.test("TS commands refuse bad input with RedisTimeSeries's errors and change nothing", async () => {
  await withServer(async (c) => {
    await c.send("TS.CREATE", "s");
    await c.send("SET", "str", "v");
    const cases: [Plain[], string][] = [
      [["TS.ADD", "s", 1], "-ERR wrong number of arguments for 'ts.add' command"],
      [["TS.ADD", "s", "x", 1], "-ERR TSDB: invalid timestamp"],
      [["TS.ADD", "s", -5, 1], "-ERR TSDB: invalid timestamp, must be a nonnegative integer"],
      [["TS.ADD", "s", 1, "abc"], "-ERR TSDB: invalid value"],
      [["TS.ADD", "s", 1, "nan"], "-ERR TSDB: invalid value"],
      [["TS.ADD", "s", 1, "inf"], "-ERR TSDB: invalid value"],
      [["TS.ADD", "str", 1, 1], "-ERR TSDB: the key is not a TSDB key"],
      [["TS.CREATE", "s"], "-ERR TSDB: key already exists"],
      [["TS.CREATE", "n", "RETENTION", -1], "-ERR TSDB: Couldn't parse RETENTION"],
      [
        ["TS.CREATE", "n", "CHUNK_SIZE", 40],
        "-ERR TSDB: CHUNK_SIZE value must be a multiple of 8 in the range [48 .. 1048576]",
      ],
      [["TS.CREATE", "n", "DUPLICATE_POLICY", "never"], "-ERR TSDB: Unknown DUPLICATE_POLICY"],
      [["TS.CREATE", "n", "ENCODING", "zip"], "-ERR TSDB: unknown ENCODING parameter"],
      [["TS.CREATE", "n", "LABELS", "a", "(b)"], "-ERR TSDB: Couldn't parse LABELS"],
      // An option where a label name stands after LABELS is read as the option, as
      // RedisTimeSeries reads it: a bad one is refused, not kept as a label.
      [
        ["TS.CREATE", "n", "LABELS", "a", "b", "RETENTION", "x"],
        "-ERR TSDB: Couldn't parse RETENTION",
      ],
      [
        ["TS.ADD", "n", 1, 1, "LABELS", "a", "b", "CHUNK_SIZE", 100],
        "-ERR TSDB: CHUNK_SIZE value must be a multiple of 8 in the range [48 .. 1048576]",
      ],
      [
        ["TS.CREATE", "n", "LABELS", "a", "b", "DUPLICATE_POLICY", "x"],
        "-ERR TSDB: Unknown DUPLICATE_POLICY",
      ],
      [["TS.RANGE", "s", "a", "+"], "-ERR TSDB: wrong fromTimestamp"],
      [["TS.RANGE", "s", "-", "b"], "-ERR TSDB: wrong toTimestamp"],
      [
        ["TS.RANGE", "s", "-", "+", "AGGREGATION", "median", 10],
        "-ERR TSDB: Unknown aggregation type",
      ],
      [
        ["TS.RANGE", "s", "-", "+", "AGGREGATION", "avg", 0],
        "-ERR TSDB: bucketDuration must be greater than zero",
      ],
      [["TS.RANGE", "s", "-", "+", "AGGREGATION", "avg"], "-ERR TSDB: Couldn't parse AGGREGATION"],
      [
        ["TS.RANGE", "s", "-", "+", "ALIGN", "-", "AGGREGATION", "avg", 10],
        "-ERR TSDB: start alignment can only be used with explicit start timestamp",
      ],
      [
        ["TS.RANGE", "s", "-", "+", "ALIGN", 5],
        "-ERR TSDB: ALIGN parameter can only be used with AGGREGATION",
      ],
      [["TS.RANGE", "s", "-", "+", "COUNT", 0], "-ERR TSDB: Invalid COUNT value"],
      [
        ["TS.RANGE", "s", "-", "+", "FILTER_BY_TS"],
        "-ERR TSDB: FILTER_BY_TS one or more arguments are missing",
      ],
      [
        ["TS.RANGE", "s", "-", "+", "FILTER_BY_VALUE", 1],
        "-ERR TSDB: FILTER_BY_VALUE one or more arguments are missing",
      ],
      [["TS.RANGE", "nope", "-", "+"], "-ERR TSDB: the key does not exist"],
      [
        ["TS.RANGE", "str", "-", "+"],
        "-ERR WRONGTYPE Operation against a key holding the wrong kind of value",
      ],
      [["TS.MRANGE", "-", "+", "FILTER", "a!=b"], "-ERR TSDB: please provide at least one matcher"],
      [["TS.MRANGE", "-", "+", "FILTER", "ab"], "-ERR TSDB: failed parsing labels"],
      // An empty element of a value list (RedisTimeSeries issue 414).
      [["TS.MRANGE", "-", "+", "FILTER", "a=(b,c,)"], "-ERR TSDB: failed parsing labels"],
      [["TS.MRANGE", "-", "+", "FILTER", "a=(b,,c)"], "-ERR TSDB: failed parsing labels"],
      [["TS.MGET", "FILTER", "a=(,b)"], "-ERR TSDB: failed parsing labels"],
      [["TS.MRANGE", "-", "+"], "-ERR wrong number of arguments for 'ts.mrange' command"],
      [["TS.MRANGE", "-", "+", "WITHLABELS"], "-ERR TSDB: missing FILTER argument"],
      [
        ["TS.MRANGE", "-", "+", "FILTER", "a=b", "GROUPBY", "a", "REDUCE", "first"],
        "-ERR TSDB: Invalid reducer type",
      ],
      [
        ["TS.MRANGE", "-", "+", "WITHLABELS", "SELECTED_LABELS", "a", "FILTER", "a=b"],
        "-ERR TSDB: cannot accept WITHLABELS and SELECT_LABELS together",
      ],
      [["TS.QUERYINDEX", "a=~"], "-ERR TSDB: please provide at least one matcher"],
      [
        ["TS.CREATERULE", "s", "s", "AGGREGATION", "avg", 10],
        "-ERR TSDB: the source key and destination key should be different",
      ],
      [
        ["TS.CREATERULE", "s", "missing", "AGGREGATION", "avg", 10],
        "-ERR TSDB: the key does not exist",
      ],
      [
        ["TS.CREATERULE", "s", "x", "AGGREGATION", "avg"],
        "-ERR wrong number of arguments for 'ts.createrule' command",
      ],
      [["TS.GET", "s", "NOW"], "-ERR TSDB: wrong 3rd argument"],
      [["TS.DEL", "s", 1], "-ERR wrong number of arguments for 'ts.del' command"],
      [["TS.MADD", "s", 1], "-ERR wrong number of arguments for 'ts.madd' command"],
      [["TS.INCRBY", "s", "x"], "-ERR TSDB: invalid increase/decrease value"],
      [
        ["TS.INCRBY", "str", 1],
        "-ERR WRONGTYPE Operation against a key holding the wrong kind of value",
      ],
    ];
    for (const [args, want] of cases) {
      assertEquals(await c.send(...(args as (string | number)[])), want, args.join(" "));
    }
    assert(
      String(await c.send("TS.QUERYINDEX", "a=~(")).startsWith(
        "-ERR TSDB: invalid regular expression: ",
      ),
    );
    assertEquals(await c.send("TS.ADD", "s", 10, 1), 10);
    assertEquals(
      await c.send("TS.ADD", "s", 10, 2),
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
    );
    assertEquals(await c.send("TS.MADD", "s", 10, 3, "s", 11, "x", "s", 12, 4, "nope", 1, 1), [
      "-ERR TSDB: Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
      "-ERR TSDB: invalid value",
      12,
      "-ERR TSDB: the key is not a TSDB key",
    ]);
    assertEquals(await c.send("TS.RANGE", "s", "-", "+"), [[10, "+1"], [12, "+4"]]);
    assertEquals(await c.send("EXISTS", "n", "nope", "missing"), 0);
  });
});

Deno.test("An option written after LABELS applies and stays a label, as in RedisTimeSeries", async () => {
  await withServer(async (c) => {
    assertEquals(
      await c.send("TS.CREATE", "k", "LABELS", "a", "b", "RETENTION", 5000, "CHUNK_SIZE", 128),
      OK,
    );
    const info = await c.send("TS.INFO", "k") as Plain[];
    const field = (name: string) => info[info.indexOf(`+${name}`) + 1];
    assertEquals(field("retentionTime"), 5000);
    assertEquals(field("chunkSize"), 128);
    assertEquals(field("labels"), [["a", "b"], ["RETENTION", "5000"], ["CHUNK_SIZE", "128"]]);
    // Anywhere after LABELS, even where a value stands.
    assertEquals(
      await c.send("TS.CREATE", "n", "LABELS", "a", "b", "c", "DUPLICATE_POLICY", "bla"),
      "-ERR TSDB: Unknown DUPLICATE_POLICY",
    );
    assertEquals(await c.send("EXISTS", "n"), 0);
  });
});

Deno.test("Keyspace commands treat series as keys; string commands answer WRONGTYPE", async () => {
  await withServer(async (c) => {
    await c.send("TS.ADD", "sensor:1", 1000, 21.5, "LABELS", "room", "a");
    await c.send("SET", "plain", "v");
    assertEquals(await c.send("TYPE", "sensor:1"), "+TSDB-TYPE");
    assertEquals(await c.send("TYPE", "plain"), "+string");
    const wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    for (
      const cmd of [
        ["GET"],
        ["APPEND", "x"],
        ["INCR"],
        ["STRLEN"],
        ["GETRANGE", 0, 1],
        ["GETDEL"],
        ["GETSET", "x"],
      ]
    ) {
      assertEquals(await c.send(cmd[0]!, "sensor:1", ...cmd.slice(1)), wrong, String(cmd[0]));
    }
    assertEquals(await c.send("MGET", "plain", "sensor:1"), ["v", null]);
    assertEquals(await c.send("EXISTS", "sensor:1", "plain"), 2);
    assertEquals(await c.send("KEYS", "*"), ["plain", "sensor:1"]);
    assertEquals(await c.send("SCAN", 0, "TYPE", "tsdb-type"), ["0", ["sensor:1"]]);
    assertEquals(await c.send("SCAN", 0, "TYPE", "string"), ["0", ["plain"]]);
    assertEquals(await c.send("DBSIZE"), 2);
    assertEquals(await c.send("EXPIRE", "sensor:1", 100), 1);
    assertEquals(await c.send("TYPE", "sensor:1"), "+TSDB-TYPE");
    assert((await c.send("TTL", "sensor:1") as number) > 90);
    assertEquals(await c.send("RENAME", "sensor:1", "sensor:2"), OK);
    assertEquals(await c.send("TS.RANGE", "sensor:2", "-", "+"), [[1000, "+21.5"]]);
    assertEquals(await c.send("TS.QUERYINDEX", "room=a"), ["sensor:2"]);
    assert((await c.send("TTL", "sensor:2") as number) > 90);
    assertEquals(await c.send("COPY", "sensor:2", "sensor:3"), 1);
    assertEquals(await c.send("TS.ADD", "sensor:3", 2000, 22), 2000);
    assertEquals(await c.send("TS.RANGE", "sensor:2", "-", "+"), [[1000, "+21.5"]]);
    assertEquals(await c.send("TS.RANGE", "sensor:3", "-", "+"), [[1000, "+21.5"], [2000, "+22"]]);
    assertEquals(await c.send("DEL", "sensor:2"), 1);
    assertEquals(await c.send("TS.QUERYINDEX", "room=a"), ["sensor:3"]);
    // A new series under the deleted name starts empty.
    assertEquals(await c.send("TS.ADD", "sensor:2", 5000, 1), 5000);
    assertEquals(await c.send("TS.RANGE", "sensor:2", "-", "+"), [[5000, "+1"]]);
    // SET overwrites a series as Redis overwrites any type.
    assertEquals(await c.send("SET", "sensor:3", "text"), OK);
    assertEquals(await c.send("TYPE", "sensor:3"), "+string");
    assertEquals(await c.send("TS.QUERYINDEX", "room=a"), []);
    assertEquals(
      await c.send("SET", new Uint8Array([0xff, 0x61]), "v"),
      "-ERR Key is reserved: keys starting with byte 0xff hold CityHall's internal data",
    );
    assertEquals(await c.send("FLUSHDB"), OK);
    assertEquals(await c.send("DBSIZE"), 0);
    assertEquals(await c.send("KEYS", "*"), []);
    assertEquals(await c.send("TS.QUERYINDEX", "room=a"), []);
  });
});
