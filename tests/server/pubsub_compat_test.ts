/**
 * Pub/sub and keyspace notifications compared byte for byte with a real redis-server 7.0: each
 * scenario runs the same steps on named connections against both servers (see `_compare.ts`).
 * Where Redis's order is a hash table's (several patterns, PUBSUB CHANNELS) the scenarios use a
 * single pattern or channel so that both orders are defined.
 */
import { compareScenario } from "./_compare.ts";

Deno.test("RESP2 subscribe mode: confirmations, counts, refused commands, PING, RESET", async () => {
  await compareScenario(
    "subscribe mode",
    `
    A: subscribe news sport
    A: subscribe news
    A: get k
    A: set k v
    A: multi
    A: client id
    A: ping
    A: ping hello
    A: psubscribe n*
    A: ssubscribe shard1
    A: unsubscribe news nothere
    A: punsubscribe
    A: punsubscribe
    A: unsubscribe
    A: sunsubscribe
    A: get k
    A: unsubscribe
    A: subscribe
    A: psubscribe
    A: ssubscribe
    A: subscribe x
    A: reset
    A: get k
    A: quit
    `,
  );
});

Deno.test("PUBLISH reaches channel and pattern subscribers; counts; QUIT in subscribe mode", async () => {
  await compareScenario(
    "publish fan-out",
    `
    A: subscribe news
    B: psubscribe n*s
    C: subscribe news other
    D: publish news hello
    D: publish nothing x
    D: publish nXs "two words"
    D: publish other ""
    C: unsubscribe news
    D: publish news again
    B: quit
    D: publish news third
    D: publish
    D: publish a b c
    `,
  );
});

Deno.test("RESP3: pushes, a subscriber may run any command, its own message precedes the reply", async () => {
  await compareScenario(
    "resp3",
    `
    A: hello 3
    A: subscribe news
    A: set k v
    A: get k
    A: publish news mine
    B: publish news theirs
    A: ping
    A: multi
    A: publish news inside
    A: ping
    A: exec
    A: unsubscribe
    A: unsubscribe
    A: psubscribe k*
    B: publish kk x
    A: punsubscribe k*
    A: ssubscribe s1
    B: spublish s1 hi
    A: sunsubscribe
    A: hello 2
    `,
  );
});

Deno.test("PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB and their errors", async () => {
  await compareScenario(
    "pubsub introspection",
    `
    Z: pubsub channels
    Z: pubsub numpat
    A: subscribe news
    B: subscribe news
    B: psubscribe n*
    C: ssubscribe s1
    Z: pubsub channels
    Z: pubsub channels n*
    Z: pubsub channels x*
    Z: pubsub numsub news none
    Z: pubsub numsub
    Z: pubsub numpat
    Z: pubsub shardchannels
    Z: pubsub shardchannels s*
    Z: pubsub shardnumsub s1 s2
    Z: pubsub channels a b
    Z: pubsub numpat x
    Z: pubsub foo
    Z: pubsub
    Z: spublish s1 m
    Z: spublish s2 m
    Z: spublish s1
    `,
  );
});

Deno.test("keyspace notifications: CONFIG flags and the events of every string and generic command", async () => {
  await compareScenario(
    "notifications",
    `
    Z: config set notify-keyspace-events KEA
    Z: config get notify-keyspace-events
    Z: config set notify-keyspace-events Egx
    Z: config get notify-keyspace-events
    Z: config set notify-keyspace-events KEAmn
    Z: config get notify-keyspace-events
    Z: config set notify-keyspace-events "EKd$"
    Z: config get notify-keyspace-events
    Z: config set notify-keyspace-events xyz
    Z: config get notify-keyspace-events
    Z: config set notify-keyspace-events KEAnm
    S: psubscribe __key*__:*
    Z: set k v
    Z: set k v2 ex 100
    Z: set k v3 keepttl
    Z: set k v get
    Z: setnx k x
    Z: setnx n1 x
    Z: setex k 100 v
    Z: psetex k 100000 v
    Z: getset k w
    Z: mset a 1 b 2 a 3
    Z: msetnx c 1 d 2
    Z: msetnx c 1 e 2
    Z: incr a
    Z: incrby a 2
    Z: decr a
    Z: decrby a 2
    Z: incrbyfloat a 1.5
    Z: incr newi
    Z: append b x
    Z: append newapp x
    Z: setrange b 0 y
    Z: setrange b 0 ""
    Z: getdel b
    Z: getdel b
    Z: getex a ex 100
    Z: getex a persist
    Z: getex a
    Z: expire c 100
    Z: expire c -1
    Z: pexpire d 100000
    Z: persist d
    Z: persist d
    Z: expireat d 1
    Z: del k zz
    Z: unlink n1
    Z: set r1 v
    Z: rename r1 r2
    Z: renamenx r2 r3
    Z: set r4 x
    Z: rename r3 r4
    Z: copy r4 r5
    Z: copy r4 r5 replace
    Z: get missing
    Z: mget newi missing2
    Z: exists missing3
    Z: strlen missing4
    Z: getrange missing5 0 1
    Z: type missing6
    Z: ttl missing7
    Z: touch missing8 newi
    Z: flushall
    Z: config set notify-keyspace-events ""
    Z: set quiet v
    `,
  );
});

Deno.test("keyspace notifications: only K, only E, class filters, expired on access", async () => {
  await compareScenario(
    "notification targets",
    `
    S: subscribe __keyspace@0__:k __keyevent@0__:set __keyevent@0__:expired __keyevent@0__:del
    Z: config set notify-keyspace-events K$
    Z: set k v
    Z: del k
    Z: config set notify-keyspace-events E$
    Z: set k v
    Z: config set notify-keyspace-events Eg
    Z: set k v
    Z: del k
    Z: config set notify-keyspace-events K
    Z: set k v
    Z: config set notify-keyspace-events Ex
    Z: set e v px 1
    ~: sleep 5
    Z: get e
    `,
  );
});
