/**
 * Set commands compared byte for byte with redis-server 7.0. Members are small integers of one
 * digit where a reply lists several: Redis keeps such sets as sorted intsets, and CityHall
 * lists members in byte order, so both orders agree.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("sets answer as redis-server 7.0 does", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "sadd/srem",
      `
      A: sadd s 3 1 2 2
      A: sadd s 1 4
      A: scard s
      A: scard nokey
      A: smembers s
      A: smembers nokey
      A: sismember s 1
      A: sismember s 9
      A: sismember nokey 1
      A: smismember s 1 9 4
      A: smismember nokey 1
      A: srem s 1 9 1
      A: srem nokey 1
      A: smembers s
      A: srem s 2 3 4
      A: exists s
      A: sadd s
      A: set str v
      A: sadd str 1
      A: smembers str
      A: sismember str 1
      A: srem str 1
    `,
    );
    await compare(
      pair,
      "set algebra",
      `
      A: sadd a 1 2 3 4
      A: sadd b 3 4 5
      A: sadd c 4 5 6
      A: sinter a b
      A: sinter a b c
      A: sinter a nokey
      A: sunion a b c
      A: sunion nokey
      A: sdiff a b
      A: sdiff a b c
      A: sdiff nokey a
      A: sintercard 2 a b
      A: sintercard 3 a b c limit 0
      A: sintercard 2 a b limit 1
      A: sintercard 0 a
      A: sintercard 3 a b
      A: sintercard 2 a b limit -1
      A: sintercard 2 a b foo 1
      A: sintercard x a
      A: sinterstore d a b
      A: smembers d
      A: sunionstore d a c
      A: smembers d
      A: sdiffstore d a a
      A: exists d
      A: sdiffstore a a b
      A: smembers a
      A: set str v
      A: sinter a str
      A: sunionstore str a
      A: type str
      A: smembers str
    `,
    );
    await compare(
      pair,
      "smove, spop, srandmember",
      `
      A: sadd a 1 2
      A: sadd b 3
      A: smove a b 1
      A: smove a b 9
      A: smove a a 2
      A: smove nokey b 1
      A: smembers a
      A: smembers b
      A: smove a b 2
      A: exists a
      A: set str v
      A: smove b str 3
      A: smove str b 3
      A: smove nokey str 3
      A: smove b str 9
      A: smove b b 9
      A: spop nokey
      A: spop nokey 3
      A: spop b 0
      A: spop b -1
      A: spop b 1 2
      A: srandmember b 10
      A: srandmember nokey
      A: srandmember nokey 5
      A: srandmember b 0
      A: srandmember b 1 2
      A: srandmember b -9223372036854775808
      A: spop b 10
      A: exists b
      A: sadd c 7
      A: spop c
      A: exists c
      A: hello 3
      A: sadd d 1 2
      A: smembers d
      A: sinter d
      A: spop d 5
      A: sadd d 1
      A: srandmember d -2
      A: sscan d 0
      A: hello 2
      A: sscan d 0 match 1 count 5
    `,
    );
  });
});
