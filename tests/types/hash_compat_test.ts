/**
 * Hash commands compared byte for byte with redis-server 7.0, scenario by scenario (RESP2 and
 * RESP3, errors, WRONGTYPE). Fields are written in byte order where a reply lists several, since
 * CityHall lists fields in byte order and Redis's small hashes in insertion order.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("hashes answer as redis-server 7.0 does", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "hset/hget",
      `
      A: hset h a 1 b 2 c 3
      A: hset h a 10 d 4
      A: hget h a
      A: hget h zz
      A: hget nokey a
      A: hmget h a zz c
      A: hmget nokey a b
      A: hlen h
      A: hlen nokey
      A: hexists h a
      A: hexists h zz
      A: hstrlen h a
      A: hstrlen h zz
      A: hsetnx h a 5
      A: hsetnx h e 5
      A: hgetall h
      A: hkeys h
      A: hvals h
      A: hgetall nokey
      A: hkeys nokey
      A: hmset h f 6 g 7
      A: hset h a
      A: hset h
      A: hmset h a 1 b
      A: hdel h a zz b b
      A: hgetall h
      A: hdel h c d e f g
      A: exists h
      A: type h
      A: hdel nokey a
    `,
    );
    await compare(
      pair,
      "hincrby",
      `
      A: hincrby h a 5
      A: hincrby h a -7
      A: hset h b abc c 9223372036854775807 d 1.5
      A: hincrby h b 1
      A: hincrby h c 1
      A: hincrby h a x
      A: hincrby h d 1
      A: hincrbyfloat h d 2.25
      A: hincrbyfloat h a 0.5
      A: hincrbyfloat h b 1
      A: hincrbyfloat h e 3e3
      A: hincrbyfloat h e abc
      A: hincrbyfloat h e inf
      A: hincrbyfloat h d 0.1
      A: hincrbyfloat h d -10.35
      A: hgetall h
    `,
    );
    await compare(
      pair,
      "wrongtype and resp3",
      `
      A: set s v
      A: hset s a 1
      A: hget s a
      A: hgetall s
      A: hlen s
      A: hset h a 1 b 2
      A: get h
      A: append h x
      A: hello 3
      A: hgetall h
      A: hrandfield h 5 withvalues
      A: hrandfield h -0
      A: hello 2
      A: hrandfield h 5 withvalues
      A: hrandfield h 2 withvalues x
      A: hrandfield h 2 foo
      A: hrandfield h x
      A: hrandfield nokey
      A: hrandfield nokey 3
      A: hrandfield h -9223372036854775808
      A: hscan h 0
      A: hscan h 0 match a*
      A: hscan h 0 count 0
      A: hscan h x
      A: hscan nokey 0
      A: hscan h 0 match
    `,
    );
  });
});
