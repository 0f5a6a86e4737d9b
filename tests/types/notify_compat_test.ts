/**
 * Keyspace notifications of the hash, set, sorted-set and list commands (names, order, `new`,
 * `del` when a key empties, blocked clients served) and OBJECT ENCODING, compared byte for byte
 * with redis-server 7.0.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("type commands publish Redis 7.0's keyspace events", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "events",
      `
      A: config set notify-keyspace-events KEAn
      B: psubscribe __key*__:*
      A: hset h a 1 b 2
      A: hsetnx h a 9
      A: hsetnx h c 3
      A: hmset h d 4
      A: hincrby h n 1
      A: hincrbyfloat h f 1.5
      A: hdel h a nope
      A: hdel h b c d n f
      A: sadd s 1 2 3
      A: sadd s 1
      A: srem s 1
      A: smove s t 2
      A: spop s
      A: sadd s 5 6
      A: sinterstore d s t
      A: sunionstore d s t
      A: sdiffstore d t t
      A: zadd z 1 a 2 b
      A: zadd z xx 1 a
      A: zincrby z 1 a
      A: zadd z incr 1 b
      A: zrem z a
      A: zadd z 3 c 4 d 5 e
      A: zremrangebyscore z 3 3
      A: zremrangebyrank z 0 0
      A: zadd zl 0 x 0 y
      A: zremrangebylex zl [x [x
      A: zpopmin z
      A: zpopmax z 5
      A: zadd z 1 a
      A: zunionstore u 1 z
      A: zinterstore u 1 z
      A: zdiffstore u 1 z
      A: zrangestore u z 0 -1
      A: zrangestore u z 5 6
      A: rpush l a b c
      A: lpush l z
      A: lpushx nokey a
      A: linsert l before a x
      A: lset l 0 y
      A: lrem l 1 y
      A: ltrim l 0 1
      A: lmove l m left right
      A: rpoplpush m l
      A: lpop l
      A: rpop l 5
      A: rpush l q
      A: lmpop 1 l left
      A: rename h nokey
      A: rpush l2 x
      A: rename l2 l3
      A: copy l3 l4
      A: del l3 l4
      C!: blpop bl 0
      A: rpush bl v
      C!: bzpopmin bz 0
      A: zadd bz 1 m
    `,
    );
  });
});

Deno.test("OBJECT ENCODING answers as redis-server 7.0 with its default thresholds", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "encodings",
      `
      A: hset h a 1
      A: object encoding h
      A: hset hb a 0123456789012345678901234567890123456789012345678901234567890123456789
      A: object encoding hb
      A: sadd si 1 2 -3
      A: object encoding si
      A: sadd ss a 1
      A: object encoding ss
      A: zadd z 1 a
      A: object encoding z
      A: rpush l a
      A: object encoding l
    `,
    );
  });
});

Deno.test("reads of missing keys publish keymiss events as redis-server 7.0", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "keymiss",
      `
      A: config set notify-keyspace-events KEm
      B: psubscribe __key*__:*
      A: hget h f
      A: hmget h f g
      A: hlen h
      A: hexists h f
      A: hstrlen h f
      A: hkeys h
      A: hvals h
      A: hgetall h
      A: hscan h 0
      A: hrandfield h
      A: hrandfield h 2
      A: hset h f v
      A: hget h nofield
      A: hdel nokey f
      A: hincrby hi f 1
      A: llen l
      A: lindex l 0
      A: lrange l 0 -1
      A: lpos l x
      A: lpop l
      A: rpop l 2
      A: lmpop 2 l l2 left
      A: lrem l 0 x
      A: ltrim l 0 1
      A: linsert l before a b
      A: lpushx l a
      A: lmove l l2 left left
      A: scard s
      A: sismember s m
      A: smismember s m n
      A: smembers s
      A: srandmember s
      A: srandmember s 3
      A: sscan s 0
      A: sinter s s2
      A: sunion s s2
      A: sdiff s s2
      A: sintercard 2 s s2
      A: sinterstore d s s2
      A: sunionstore d s s2
      A: sdiffstore d s s2
      A: set str v
      A: sinter s str s2
      A: spop s
      A: srem s m
      A: smove s s2 m
      A: zcard z
      A: zscore z m
      A: zmscore z m n
      A: zrank z m
      A: zrevrank z m
      A: zcount z 0 1
      A: zlexcount z - +
      A: zrange z 0 -1
      A: zrange z 0 1 byscore
      A: zrangebyscore z 0 1
      A: zrevrangebylex z + -
      A: zrangestore zd z 0 -1
      A: zrandmember z
      A: zrandmember z 2
      A: zscan z 0
      A: zunion 2 z z2
      A: zinter 2 z z2
      A: zdiff 2 z z2
      A: zintercard 2 z z2
      A: zunionstore zd 2 z z2
      A: zinter 3 z str z2
      A: zpopmin z
      A: zrem z m
      A: zremrangebyrank z 0 1
      A: zincrby z2 1 m
      A: get nostr
      A: exists nostr
    `,
    );
  });
});
