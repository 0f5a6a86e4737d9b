/**
 * SORT and SORT_RO compared byte for byte with a real redis-server 7.0 (`_compare.ts`): numeric
 * and ALPHA sorting of lists, sets and sorted sets, BY patterns (string keys, hash fields,
 * constant patterns that skip sorting), LIMIT edges, GET patterns with `#`, STORE (replacing
 * any type, deleting on an empty result), the strtod weight rules and every error.
 */
import { compareScenario } from "./_compare.ts";

Deno.test("SORT: numeric and ALPHA, lists, sets and sorted sets, DESC and LIMIT", async () => {
  await compareScenario(
    "sort",
    `
    Z: rpush l 3 1 2 10 -1 1.5 2e1 0x10 " 7" inf -inf
    Z: sort l
    Z: sort l desc
    Z: sort l alpha
    Z: sort l alpha desc
    Z: sort l limit 0 3
    Z: sort l limit 2 2 desc
    Z: sort l limit -5 2
    Z: sort l limit 5 -1
    Z: sort l limit 100 2
    Z: sort l limit 3 0
    Z: sort l limit 1 9223372036854775807
    Z: sort l limit 0 x
    Z: sort_ro l limit 1 3
    Z: sadd s 5 3 9 1 30 2
    Z: sort s
    Z: sort s desc limit 1 2
    Z: sort s alpha
    Z: zadd z 3 c 1 a 2 b 0 d
    Z: sort z alpha
    Z: sort z by nosort
    Z: sort z by nosort desc
    Z: sort z by nosort limit 1 2
    Z: sort z by nosort desc limit 1 2
    Z: sort l by nosort
    Z: sort l by nosort desc
    Z: sort l by nosort limit 2 3
    Z: sort l by nosort desc limit 2 3
    Z: sort missing
    Z: sort missing alpha limit 0 1
    Z: rpush same 2 1 2 1 b a
    Z: sort same alpha
    Z: rpush ties 1 01 1.0 +1 1e0
    Z: sort ties
    Z: sort ties desc
    `,
  );
});

Deno.test("SORT: BY and GET patterns, hash fields, missing weights, # and constant patterns", async () => {
  await compareScenario(
    "sort-patterns",
    `
    Z: rpush ids 1 2 3 4
    Z: mset w_1 40 w_2 10 w_3 30 name_1 one name_2 two name_4 four
    Z: hset o_1 f x1 n 9
    Z: hset o_2 f x2 n 7
    Z: hset o_3 n 8
    Z: sort ids by w_*
    Z: sort ids by w_* desc
    Z: sort ids by w_* get name_*
    Z: sort ids by w_* get # get name_* get o_*->f get o_*->n
    Z: sort ids by o_*->n
    Z: sort ids by o_*->n get o_*->f
    Z: sort ids by name_* alpha
    Z: sort ids by name_* alpha desc
    Z: sort ids by nosort get name_*
    Z: sort ids by w_* limit 1 2 get #
    Z: sort ids get name_* get nostar
    Z: sort ids by w_*-> get #
    Z: sort ids by o_*->f alpha get #
    Z: set str notalist
    Z: sort ids by str_* get str
    Z: hset h a 1
    Z: sort ids by h get h
    Z: rpush words b a c
    Z: set w_b 3
    Z: set w_a x
    Z: sort words by w_*
    Z: sort words by w_* alpha
    Z: sort words
    `,
  );
});

Deno.test("SORT STORE: replaces any type, empty result deletes, GET misses store empty strings", async () => {
  await compareScenario(
    "sort-store",
    `
    Z: rpush l 3 1 2
    Z: sort l store dst
    Z: lrange dst 0 -1
    Z: type dst
    Z: set dst2 astring
    Z: sort l desc store dst2
    Z: lrange dst2 0 -1
    Z: sadd dst3 x y
    Z: sort l limit 0 2 get nokey_* get # store dst3
    Z: lrange dst3 0 -1
    Z: sort missing store dst
    Z: exists dst
    Z: sort l limit 10 10 store dst2
    Z: exists dst2
    Z: sadd s b c a
    Z: sort s by nosort store sset
    Z: lrange sset 0 -1
    Z: sort l store l
    Z: lrange l 0 -1
    Z: sort_ro l store x
    Z: sort l store
    Z: sort l bogus
    Z: sort l limit 1
    Z: sort l by
    Z: sort l get
    Z: set str abc
    Z: sort str
    Z: sort str store x
    Z: hset h a 1
    Z: sort h
    Z: sort
    Z: sort_ro
    Z: rpush bad 1 x 2
    Z: sort bad
    Z: sort bad store dst
    Z: exists dst
    Z: rpush nan nan
    Z: sort nan
    Z: rpush big 1e400
    Z: sort big
    Z: rpush tiny 1e-400
    Z: sort tiny
    Z: rpush spaces "  "
    Z: sort spaces
    `,
  );
});

Deno.test("SORT STORE: keyspace events as Redis sends them", async () => {
  await compareScenario(
    "sort-events",
    `
    Z: config set notify-keyspace-events KEA
    S: psubscribe __keyevent@0__:*
    Z: rpush l 2 1
    Z: sort l store d
    Z: sort l store d
    Z: sort missing store d
    Z: sort missing store d
    `,
  );
});
