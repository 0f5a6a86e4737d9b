/**
 * List commands compared byte for byte with redis-server 7.0, scenario by scenario, including
 * the blocking pops: served in arrival order across connections, timeouts, MULTI, errors.
 */
import { compare, withPair } from "./_pair.ts";

Deno.test("lists answer as redis-server 7.0 does", async () => {
  await withPair(async (pair) => {
    await compare(
      pair,
      "push/pop/range",
      `
      A: rpush l a b c
      A: lpush l z y
      A: lpushx nokey a
      A: rpushx nokey a
      A: lpushx l x
      A: rpushx l d e
      A: llen l
      A: llen nokey
      A: lrange l 0 -1
      A: lrange l 2 4
      A: lrange l -3 -1
      A: lrange l -100 100
      A: lrange l 5 2
      A: lrange l 20 30
      A: lrange nokey 0 -1
      A: lrange l x 1
      A: lindex l 0
      A: lindex l -1
      A: lindex l 100
      A: lindex nokey 0
      A: lindex l x
      A: lpop l
      A: rpop l
      A: lpop l 2
      A: rpop l 0
      A: lpop l -1
      A: lpop nokey
      A: lpop nokey 2
      A: rpop nokey 0
      A: lpop l 1 2
      A: rpop l 100
      A: exists l
      A: lpush l
      A: set str v
      A: lpush str a
      A: lrange str 0 1
      A: lpop str
      A: llen str
    `,
    );
    await compare(
      pair,
      "lset/lrem/ltrim/linsert/lpos",
      `
      A: rpush l a b a c a d
      A: lset l 1 B
      A: lset l -1 D
      A: lset l 100 x
      A: lset nokey 0 x
      A: lset l x x
      A: lrange l 0 -1
      A: lrem l 1 a
      A: lrem l -1 a
      A: lrange l 0 -1
      A: rpush l a a b a
      A: lrem l 0 a
      A: lrem l 0 nope
      A: lrem nokey 0 a
      A: lrange l 0 -1
      A: rpush l 1 2 3 4 5
      A: ltrim l 1 -2
      A: lrange l 0 -1
      A: ltrim l 2 1
      A: exists l
      A: ltrim nokey 0 1
      A: rpush l a b c d e
      A: linsert l before c X
      A: linsert l after e Y
      A: linsert l before a W
      A: linsert l after nope Z
      A: linsert l middle a Z
      A: linsert nokey before a b
      A: lrange l 0 -1
      A: rpush p a b c a b c a
      A: lpos p a
      A: lpos p a rank 2
      A: lpos p a rank -1
      A: lpos p a rank -2 count 0
      A: lpos p a count 2
      A: lpos p a count 0 maxlen 4
      A: lpos p nope
      A: lpos p nope count 3
      A: lpos nokey a
      A: lpos nokey a count 1
      A: lpos p a rank 0
      A: lpos p a count -1
      A: lpos p a maxlen -1
      A: lpos p a foo 1
      A: lpos p a rank
      A: lpos p a rank -9223372036854775808
    `,
    );
    await compare(
      pair,
      "lmove/lmpop",
      `
      A: rpush a 1 2 3
      A: lmove a b left right
      A: lmove a b right left
      A: lrange b 0 -1
      A: rpoplpush a b
      A: exists a
      A: lmove a b left left
      A: rpoplpush nokey b
      A: lmove b b left right
      A: lrange b 0 -1
      A: lmove b b up down
      A: set str v
      A: lmove b str left left
      A: lmove str b left left
      A: lrange b 0 -1
      A: lmpop 2 nokey b left
      A: lmpop 1 b right count 5
      A: lmpop 1 b left
      A: lmpop 0 b left
      A: lmpop 1 b middle
      A: lmpop 1 b left count 0
      A: lmpop 5 b left
      A: lmpop 1 str left
    `,
    );
    await compare(
      pair,
      "blocking",
      `
      A: blpop nokey 0.05
      A: brpop nokey x
      A: brpop nokey -1
      A!: blpop q1 q2 0
      B!: brpop q2 0
      C: rpush q2 first second third
      A: lrange q2 0 -1
      B: llen q2
      A!: blmove src dst left right 0
      C: lpush src v
      A: lrange dst 0 -1
      A!: blmpop 0 2 m1 m2 right count 2
      C: rpush m2 x y z
      A!: bzpopmin z1 z2 0
      B!: bzpopmax z2 0
      C: zadd z2 1 a 2 b 3 c
      A: zrange z2 0 -1
      A!: bzmpop 0 1 z3 max count 5
      C: zadd z3 1 a 2 b
      A: multi
      A: blpop nokey 0
      A: blmove nokey dst left left 0
      A: bzpopmin nokey 0
      A: exec
      A: brpoplpush nokey dst 0.01
      A: bzpopmin nokey 0.01
      A: set str v
      A: blpop str 0
      A: blpop nokey str 0
      A: hello 3
      A!: bzpopmin z4 0
      C: zadd z4 2.5 m
    `,
    );
  });
});
