/**
 * Sorted-set commands compared byte for byte with redis-server 7.0, scenario by scenario:
 * ZADD flags, scores as Redis prints them (`%.17g`), every range form, the *STORE forms,
 * ZUNION/ZINTER/ZDIFF with weights and aggregates, pops, RESP2 and RESP3.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("sorted sets answer as redis-server 7.0 does", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "zadd",
      `
      A: zadd z 1 a 2 b 3 c
      A: zadd z 1.1 a 0.1 d -1e-7 e 1e17 f inf g -inf h
      A: zrange z 0 -1 withscores
      A: zadd z nx 5 a 5 x
      A: zadd z xx ch 6 a 6 y
      A: zadd z gt ch 1 a 7 b
      A: zadd z lt ch 9 a 1 b
      A: zadd z incr 2.5 a
      A: zadd z nx incr 1 a
      A: zadd z xx incr 1 new
      A: zadd nokey xx 1 a
      A: zadd nokey xx incr 1 a
      A: exists nokey
      A: zadd z nx xx 1 a
      A: zadd z gt lt 1 a
      A: zadd z nx gt 1 a
      A: zadd z incr 1 a 2 b
      A: zadd z 1 a 2
      A: zadd z
      A: zadd z x a
      A: zadd z nan a
      A: zadd z incr -inf g
      A: zadd z 1 a 1 a 2 a
      A: zscore z a
      A: zscore z nope
      A: zscore nokey a
      A: zmscore z a nope b
      A: zmscore nokey a
      A: zincrby z 0.1 a
      A: zincrby z 1 brandnew
      A: zincrby z x a
      A: zincrby z -inf g
      A: zcard z
      A: zcard nokey
      A: zrem z a nope b a
      A: zrem nokey a
      A: zrange z 0 -1 withscores
      A: zadd z -0 zero
      A: zscore z zero
      A: set str v
      A: zadd str 1 a
      A: zscore str a
      A: zrange str 0 1
    `,
    );
    await compare(
      pair,
      "ranks and ranges",
      `
      A: zadd z 1 a 2 b 3 c 4 d 5 e 5 f 5 g
      A: zrank z a
      A: zrank z g
      A: zrank z nope
      A: zrevrank z a
      A: zrevrank nokey a
      A: zrange z 0 2
      A: zrange z -2 -1 withscores
      A: zrange z 5 100
      A: zrange z 3 1
      A: zrange z 0 -1 rev
      A: zrange z 1 3 rev withscores
      A: zrange z x 1
      A: zrange z 0 1 limit 0 1
      A: zrange z a b bylex withscores
      A: zrange z 0 1 foo
      A: zrange z (1 4 byscore
      A: zrange z 2 (5 byscore withscores
      A: zrange z -inf +inf byscore limit 2 3
      A: zrange z -inf +inf byscore limit -1 3
      A: zrange z -inf +inf byscore limit 1 -1
      A: zrange z 5 (2 byscore rev
      A: zrange z +inf -inf byscore rev limit 1 2 withscores
      A: zrange z x 1 byscore
      A: zrange z 1 (x byscore
      A: zrange z (5 5 byscore
      A: zrangebyscore z 2 4
      A: zrangebyscore z 2 4 withscores limit 1 5
      A: zrangebyscore z 2 4 rev
      A: zrevrangebyscore z 4 2
      A: zrevrangebyscore z 4 2 withscores limit 0 2
      A: zrevrange z 0 1 withscores
      A: zrevrange z 0 1 limit 0 1
      A: zcount z 2 (5
      A: zcount z -inf +inf
      A: zcount z x 1
      A: zcount nokey 1 2
      A: zadd l 0 a 0 b 0 c 0 d 0 e
      A: zrangebylex l - +
      A: zrangebylex l [b (d
      A: zrangebylex l (a [c limit 1 5
      A: zrevrangebylex l + -
      A: zrevrangebylex l [d (a limit 0 2
      A: zrange l [b [d bylex
      A: zrange l [d [b bylex rev
      A: zrangebylex l b d
      A: zlexcount l [b +
      A: zlexcount l - +
      A: zlexcount l x y
      A: zrangestore dst z 0 2
      A: zrange dst 0 -1 withscores
      A: zrangestore dst z 2 4 byscore rev
      A: zrangestore dst l [b [c bylex
      A: zrange dst 0 -1
      A: zrangestore dst z 10 20
      A: exists dst
      A: zrangestore dst z 0 1 withscores
      A: zrangestore dst nokey 0 1
      A: zremrangebyrank z 0 1
      A: zremrangebyscore z (3 4
      A: zremrangebyscore z x 4
      A: zremrangebylex l [a [b
      A: zremrangebylex l x y
      A: zrange z 0 -1
      A: zrange l 0 -1
      A: zremrangebyrank nokey 0 1
      A: zremrangebyrank z 0 -1
      A: exists z
    `,
    );
    await compare(
      pair,
      "pops and random",
      `
      A: zadd z 1 a 2 b 3 c 4 d
      A: zpopmin z
      A: zpopmax z 2
      A: zpopmin z 0
      A: zpopmin z -1
      A: zpopmin z 1 2
      A: zpopmin nokey
      A: zpopmax nokey 3
      A: zpopmin z 10
      A: exists z
      A: zadd z 1 a 2 b 3 c
      A: zadd y 5 x
      A: zmpop 2 nokey z min
      A: zmpop 2 z y max count 10
      A: zmpop 1 nokey min
      A: zmpop 0 z min
      A: zmpop 1 y foo
      A: zmpop 1 y min count 0
      A: zmpop 1 y min count 1 count 1
      A: zmpop 3 y min
      A: zrandmember nokey
      A: zrandmember nokey 3
      A: zrandmember y 5 withscores
      A: zrandmember y 0
      A: zrandmember y 1 foo
      A: zrandmember y 1 withscores x
      A: zscan y 0
      A: hello 3
      A: zadd r 1 a 2.5 b
      A: zrange r 0 -1 withscores
      A: zscore r b
      A: zmscore r a b c
      A: zpopmin r
      A: zadd r 1 a
      A: zpopmin r 1
      A: zadd r 1 a 2 b
      A: zpopmax r 5
      A: zadd r 1 a 2 b
      A: zmpop 1 r min count 2
      A: zadd r 1 a
      A: zrandmember r 1 withscores
      A: zadd r incr 1 a
      A: zscan r 0
      A: zrangebyscore r -inf +inf withscores
    `,
    );
    await compare(
      pair,
      "union, inter, diff",
      `
      A: zadd a 1 x 2 y 3 z
      A: zadd b 10 y 20 z 30 w
      A: sadd s x w
      A: zunion 2 a b
      A: zunion 2 a b withscores
      A: zunion 3 a b s withscores
      A: zunion 2 a b weights 2 0.5 withscores
      A: zunion 2 a b aggregate min withscores
      A: zunion 2 a b aggregate max withscores
      A: zinter 2 a b withscores
      A: zinter 2 a s withscores
      A: zinter 2 a nokey
      A: zdiff 2 a b withscores
      A: zdiff 1 nokey
      A: zdiff 2 a b weights 1 1
      A: zunion 0 a
      A: zunion 3 a b
      A: zunion 2 a b weights 1
      A: zunion 2 a b weights 1 x
      A: zunion 2 a b aggregate foo
      A: zunion x a
      A: zunionstore d 2 a b
      A: zrange d 0 -1 withscores
      A: zinterstore d 2 a b weights 1 2 aggregate max
      A: zrange d 0 -1 withscores
      A: zdiffstore d 2 a b
      A: zrange d 0 -1 withscores
      A: zinterstore d 2 a nokey
      A: exists d
      A: zunionstore d 2 a b withscores
      A: zintercard 2 a b
      A: zintercard 2 a b limit 1
      A: zintercard 2 a b limit -1
      A: zintercard 0 a
      A: zadd i 1 m
      A: zadd j -inf m
      A: zadd k inf m
      A: zunion 2 j k withscores
      A: zinter 2 i k weights 0 1 withscores
      A: set str v
      A: zunion 2 a str
      A: zinter 2 nokey str
      A: zunionstore str 1 a
      A: type str
    `,
    );
  });
});
