/**
 * Operator commands compared byte for byte with a real redis-server 7.0 (`_compare.ts`): bit
 * commands, LCS, OBJECT, MEMORY USAGE, TOUCH, RANDOMKEY, SLOWLOG, LATENCY, CLIENT KILL/PAUSE/
 * NO-EVICT/LIST, MONITOR and RESET. Figures that are times or depend on the machine (slow log
 * durations, client ids and ports, the MONITOR clock) are masked before comparing.
 */
import { compareScenario, STANDARD_NORMALIZER } from "./_compare.ts";

Deno.test("SETBIT GETBIT BITCOUNT BITPOS: values, ranges, BIT/BYTE units and errors", async () => {
  await compareScenario(
    "bits",
    `
    Z: setbit b 7 1
    Z: setbit b 7 1
    Z: setbit b 100 1
    Z: setbit b 100 0
    Z: get b
    Z: getbit b 7
    Z: getbit b 6
    Z: getbit b 100000
    Z: getbit nokey 3
    Z: setbit b -1 1
    Z: setbit b 1 2
    Z: setbit b x 1
    Z: setbit b 4294967296 1
    Z: getbit b -1
    Z: set s foobar
    Z: bitcount s
    Z: bitcount s 0 0
    Z: bitcount s 1 1
    Z: bitcount s 1 -2
    Z: bitcount s -2 -1
    Z: bitcount s 5 30
    Z: bitcount s 3 1
    Z: bitcount s -1 -2
    Z: bitcount s -6 -7
    Z: bitcount s -10 -20 bit
    Z: bitcount s 5 30 bit
    Z: bitcount s 0 -1 byte
    Z: bitcount s 1 -5 bit
    Z: bitcount s 0
    Z: bitcount s 0 1 foo
    Z: bitcount s a b
    Z: bitcount nokey
    Z: bitcount nokey 0 1
    Z: set z "\\xff\\xf0\\x00"
    Z: bitpos z 0
    Z: bitpos z 1
    Z: bitpos z 1 2
    Z: bitpos z 0 0 0
    Z: bitpos z 1 2 -1 byte
    Z: bitpos z 1 7 15 bit
    Z: bitpos z 0 0 11 bit
    Z: bitpos z 0 0 -1 bit
    Z: bitpos z 2
    Z: bitpos z 1 a
    Z: bitpos z 1 0 1 foo
    Z: bitpos z 1 0 1 bit x
    Z: set ones "\\xff\\xff"
    Z: bitpos ones 0
    Z: bitpos ones 0 0
    Z: bitpos ones 0 0 -1
    Z: bitpos ones 0 1 1
    Z: bitpos nokey 0
    Z: bitpos nokey 1
    Z: set e ""
    Z: bitpos e 0
    Z: bitpos e 1
    Z: bitcount e
    `,
  );
});

Deno.test("BITOP AND OR XOR NOT: lengths, missing keys, empty result deletes, errors", async () => {
  await compareScenario(
    "bitop",
    `
    Z: set a "\\x0f\\xf0"
    Z: set b "\\xff"
    Z: bitop and d a b
    Z: get d
    Z: bitop or d a b
    Z: get d
    Z: bitop xor d a b nokey
    Z: get d
    Z: bitop not d a
    Z: get d
    Z: bitop not d a b
    Z: bitop nand d a
    Z: bitop and d nokey1 nokey2
    Z: exists d
    Z: bitop and d
    `,
  );
});

Deno.test("BITFIELD and BITFIELD_RO: types, # offsets, overflow modes, errors", async () => {
  await compareScenario(
    "bitfield",
    `
    Z: bitfield bf set u8 0 200 get u8 0 get i8 0
    Z: bitfield bf incrby u8 0 100
    Z: bitfield bf overflow sat incrby u8 0 100 overflow fail incrby u8 0 100
    Z: bitfield bf overflow wrap incrby i8 0 200 get i8 0
    Z: bitfield bf set i5 #1 -3 get i5 #1 get u5 #1
    Z: bitfield bf set u8 0 -1 get u8 0
    Z: bitfield bf overflow sat set u8 0 -1 overflow fail set u8 0 -1 get u8 0
    Z: bitfield bf set i64 0 -9223372036854775808 incrby i64 0 -1
    Z: bitfield bf overflow sat incrby i64 0 -1 overflow fail incrby i64 0 -1
    Z: bitfield bf set u63 0 9223372036854775807 get u63 0
    Z: bitfield bf get u1 0 get i1 0 get u16 100
    Z: get bf
    Z: bitfield bf get u64 0
    Z: bitfield bf get i65 0
    Z: bitfield bf get x8 0
    Z: bitfield bf get u8 -1
    Z: bitfield bf get u8 #-1
    Z: bitfield bf get u8
    Z: bitfield bf set u8 0 x
    Z: bitfield bf overflow maybe
    Z: bitfield bf foo
    Z: bitfield bf
    Z: bitfield nokey get u8 0
    Z: exists nokey
    Z: bitfield_ro bf get u8 0 get i4 4
    Z: bitfield_ro bf set u8 0 1
    Z: bitfield_ro bf incrby u8 0 1
    Z: bitfield_ro bf overflow sat
    Z: bitfield_ro nokey get u8 0
    `,
  );
});

Deno.test("LCS: string, LEN, IDX, MINMATCHLEN, WITHMATCHLEN, missing keys, errors", async () => {
  await compareScenario(
    "lcs",
    `
    Z: mset key1 ohmytext key2 mynewtext
    Z: lcs key1 key2
    Z: lcs key1 key2 len
    Z: lcs key1 key2 idx
    Z: lcs key1 key2 idx minmatchlen 4
    Z: lcs key1 key2 idx minmatchlen 4 withmatchlen
    Z: lcs key1 key2 idx withmatchlen minmatchlen -5
    Z: lcs key1 key2 len idx
    Z: lcs key1 key2 foo
    Z: lcs key1 key2 minmatchlen
    Z: lcs key1 key2 minmatchlen x
    Z: lcs key1 nokey
    Z: lcs nokey1 nokey2 idx
    Z: mset a "ACCGGTCGAGTGCGCGGAAGCCGGCCGAA" b "GTCGTTCGGAATGCCGTTGCTCTGTAAA"
    Z: lcs a b
    Z: lcs a b idx withmatchlen
    Z: hello 3
    Z: lcs key1 key2 idx
    `,
  );
});

Deno.test("OBJECT, MEMORY USAGE, TOUCH, RANDOMKEY on strings", async () => {
  await compareScenario(
    "object memory",
    `
    Z: randomkey
    Z: set foo bar
    Z: randomkey
    Z: set i 12345
    Z: set big 123456789012345678901
    Z: set e44 "12345678901234567890123456789012345678901234"
    Z: set e45 "123456789012345678901234567890123456789012345"
    Z: set k41kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk v
    Z: object encoding foo
    Z: object encoding i
    Z: object encoding big
    Z: object encoding e44
    Z: object encoding e45
    Z: object encoding nokey
    Z: object freq foo
    Z: object freq nokey
    Z: object refcount foo
    Z: object foo bar
    Z: object encoding
    Z: memory usage foo
    Z: memory usage i
    Z: memory usage e44
    Z: memory usage e45
    Z: memory usage k41kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
    Z: memory usage nokey
    Z: memory usage foo samples 5
    Z: memory usage foo samples x
    Z: memory usage foo bar
    Z: memory usage
    Z: memory foo
    Z: memory purge
    Z: touch foo i nokey
    Z: touch
    `,
  );
});

Deno.test("MEMORY USAGE follows Redis for values of many sizes", async () => {
  const sets: string[] = [];
  for (const n of [0, 1, 10, 20, 31, 32, 44, 45, 100, 200, 255, 256, 1000, 5000, 10000, 70000]) {
    sets.push(`Z: set v${n} "${"x".repeat(n)}"`, `Z: memory usage v${n}`);
  }
  await compareScenario("memory sizes", sets.join("\n"));
});

Deno.test("SLOWLOG and LATENCY: replies, argument trimming, errors", async () => {
  const long = "a".repeat(200);
  const many = Array.from({ length: 40 }, (_, i) => `k${i}`).join(" ");
  await compareScenario(
    "slowlog",
    `
    Z!: slowlog reset
    Z!: config set slowlog-log-slower-than 0
    Z!: set k ${long}
    Z!: mget ${many}
    Z!: auth secret
    Z!: config set slowlog-log-slower-than -1
    Z!: slowlog len
    Z!: slowlog get 2
    Z!: slowlog get -1
    Z: slowlog get 0
    Z: slowlog get -2
    Z: slowlog get x
    Z: slowlog len x
    Z: slowlog foo
    Z: slowlog
    Z: config set slowlog-log-slower-than -5
    Z: config set slowlog-log-slower-than -1
    Z: slowlog reset
    Z: set k v
    Z: slowlog len
    Z: config set slowlog-max-len x
    Z: config get slowlog-max-len
    Z: config get slowlog-log-slower-than
    Z: latency latest
    Z: latency history command
    Z: latency history
    Z: latency reset
    Z: latency reset a b
    Z: latency graph command
    Z: latency foo
    Z: config set latency-monitor-threshold -1
    Z: config set latency-monitor-threshold x
    Z: config get latency-monitor-threshold
    `,
    (t) =>
      STANDARD_NORMALIZER(t)
        // Entry ids, start times and durations differ: keep the shape.
        .replace(/\*6\r\n:\d+\r\n:\d+\r\n:\d+\r\n/g, "*6\r\n:ID\r\n:TIME\r\n:US\r\n"),
  );
});

Deno.test("CONFIG SET hz: clamped to 1 … 500 as Redis runs it, errors outside 0 … INT_MAX", async () => {
  await compareScenario(
    "hz",
    `
    Z: config get hz
    Z: config set hz 1
    Z: config get hz
    Z: config set hz 0
    Z: config get hz
    Z: config set hz 1000
    Z: config get hz
    Z: config set hz -1
    Z: config set hz x
    Z: config set hz 2147483648
    Z: config get hz
    Z: config set hz 10
    Z: config get hz
    `,
  );
});

Deno.test("CLIENT KILL, PAUSE, UNPAUSE, NO-EVICT, NO-TOUCH, LIST TYPE: replies and errors", async () => {
  await compareScenario(
    "client",
    `
    Z: client kill 1.2.3.4:5
    Z: client kill id 99999
    Z: client kill id abc
    Z: client kill id 0
    Z: client kill type foo
    Z: client kill type pubsub
    Z: client kill skipme maybe
    Z: client kill addr
    Z: client kill foo bar
    Z: client kill user nobody
    Z: client kill user default skipme yes type master
    Z: client kill laddr 1.1.1.1:1
    Z: client kill id 5 type
    Z: client pause
    Z: client pause abc
    Z: client pause -1
    Z: client pause 10 foo
    Z: client pause abc foo
    Z: client pause 10 write x
    Z: client pause 1 write
    Z: client unpause
    Z: client unpause x
    Z: client no-evict
    Z: client no-evict maybe
    Z: client no-evict on
    Z: client no-evict off
    Z: client list type foo
    Z: client list id
    Z: client list id abc
    Z: client list id 0
    Z: client list foo
    Z: client list type normal id 1
    Z: client list type master
    Z: client list type pubsub
    A: subscribe x
    Z: client kill type pubsub
    Z: client kill type pubsub
    `,
  );
});

Deno.test("MONITOR: the feed's format, redacted AUTH, admin commands hidden, EXEC order, RESET", async () => {
  await compareScenario(
    "monitor",
    `
    A: config set slowlog-log-slower-than -1
    M: monitor
    M: monitor
    M: get k
    A: set k "a b\\"c\\\\n"
    A: config get maxclients
    A: auth secret
    A: auth user secret
    A: hello 2 auth default secret
    A: multi
    A: set b 2
    A: incr a
    A: exec
    A: client list
    A: client id
    A: slowlog len
    A: echo "\\x01\\xff\\t"
    A: publish x y
    A: nosuchcommand
    A: get
    M: reset
    A: set k again
    M: get k
    `,
    (t) =>
      STANDARD_NORMALIZER(t)
        .replace(/\$\d+\r\nid=\d+ [^\r]*\r\n/g, "$CLIENTLIST\r\n")
        // The CLIENT ID reply that follows CLIENT LIST.
        .replace(/(\$CLIENTLIST\r\n):\d+\r\n/, "$1:ID\r\n"),
  );
});
