/**
 * What an outside differential fuzz (random commands with odd arguments to redis-server 7.0.15
 * and CityHall, replies compared) found, pinned as scenarios compared byte for byte with
 * redis-server: which check comes first when a command has both a missing key and a bad
 * argument, the count errors of the pop commands, doubles written in C99 hex or out of range,
 * and SUBSTR.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("argument errors and missing keys are checked in Redis 7.0's order", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "a missing key answers before a bad argument",
      `
      A: bitcount nokey 10
      A: bitcount nokey 0 x
      A: bitcount nokey -1 99999999999999999999 bit
      A: bitpos nokey 1 0 1 bit extra
      A: lindex nokey 99999999999999999999
      A: lset nokey x a
      A: rpush l a
      A: lset l x a
      A: lindex l x
      A: set s abc
      A: bitcount s 10
      A: bitcount s -1 -2 nounit
      A: bitcount s 0 1 nounit
      A: bitpos s 1 0 1 bit extra
      A: lpush s a
      A: incrbyfloat l x
      A: set f 1.5
      A: incrbyfloat f x
      A: set notnum abc
      A: incrbyfloat notnum x
      A: expire nokey x nx xx
      A: expire nokey 1.5 xy
      A: pexpireat f x gt lt
      A: expireat f 99999999999999999999 nx
    `,
    );
    await compare(
      pair,
      "pop counts: any bad count is 'must be positive'; LPOS COUNT and MAXLEN name themselves",
      `
      A: rpush l a b c
      A: lpop l x
      A: rpop l 1.5
      A: lpop l ""
      A: lpop l -1
      A: lpop nokey x
      A: zadd z 1 a
      A: zpopmin z x
      A: zpopmax z -1
      A: sadd s a
      A: spop s x
      A: spop nokey -2
      A: lpos l a count x
      A: lpos l a count -1
      A: lpos l a maxlen ""
      A: lpos l a maxlen -5
      A: lpos l a rank x
      A: lpos l a rank 0
    `,
    );
    await compare(
      pair,
      "doubles: C99 hex is read, out of range is refused",
      `
      A: zadd z 0x10 a 0x1.8p1 b -0x.8p-3 c
      A: zrange z 0 -1 withscores
      A: zadd z 1e400 d
      A: zadd z 1e-400 d
      A: zadd z 0x1p1024 d
      A: zadd z 1e-310 d
      A: zscore z d
      A: zrangebyscore z (0x1 0x10 withscores
      A: set n 0x10
      A: incrbyfloat n 0.5
      A: hset h f 0x10
      A: hincrbyfloat h f 0x1p1
      A: zincrby z 0x10 a
      A: zadd z 0x a
      A: zadd z 0x1p a
      A: zadd z "0x10 " a
    `,
    );
    await compare(
      pair,
      "SUBSTR is GETRANGE",
      `
      A: set k hello
      A: substr k 1 3
      A: substr k -3 -1
      A: substr k 10 20
      A: substr nokey 0 1
      A: substr k x 1
      A: rpush l a
      A: substr l 0 1
      A: substr k 0
    `,
    );
  });
});
