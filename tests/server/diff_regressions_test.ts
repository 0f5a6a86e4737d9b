/**
 * Divergences from redis-server 7.0 that the differential fuzzer (tests/_helpers/resp_diff.ts)
 * found, each replayed as a fixed scenario against both servers (tests/server/_compare.ts).
 *
 * @module
 */

import { compareScenario } from "./_compare.ts";

Deno.test("score bounds are read with plain strtod: empty, '(' alone, spaces, 1e400, a NUL", async () => {
  await compareScenario(
    "score bounds",
    `
    A: zadd z 0 a 1 b 2 c 3 d
    A: zcount z "" ""
    A: zcount z "(" 1
    A: zrangebyscore z " 1" +inf
    A: zrangebyscore z -1e400 1e400 withscores
    A: zrevrangebyscore z 1e400 "(" withscores
    A: zcount z "1\\x00junk" 2
    A: zrange z "" "(2" byscore
    A: zrange z "(3" "" byscore rev
    A: zcount z "1 " 2
    A: zcount z nan 1
    A: zcount z "(nan" 1
    A: zcount z 0x1 0x2
    A: zcount z 1e-400 1
    A: zrangestore dst z "" 1 byscore
    A: zremrangebyscore z "(" "("
    A: zremrangebyscore z "" "(1"
    A: zrange z 0 -1 withscores
    A: set s v
    A: zcount s "" ""
    A: zcount s x 1
    A: zcount missing "" ""
    A: zcount missing x 1
    `,
  );
});

Deno.test("SORT reads a weight up to its first NUL byte, as strtod reads the C string", async () => {
  await compareScenario(
    "sort weights",
    `
    A: rpush l "1\\x00x" 3 2 "\\x00abc"
    A: sort l
    A: sort l desc
    A: rpush m "1\\x00" "x\\x001"
    A: sort m
    `,
  );
});

Deno.test("HSCAN, SSCAN and ZSCAN check the cursor, then the key, then the options", async () => {
  await compareScenario(
    "key scans",
    `
    A: hscan missing 0 count 1000 junk
    A: sscan missing 0 match
    A: zscan missing 0 count 0
    A: hscan missing x
    A: set s v
    A: hscan s 0 junk
    A: sscan s 0 count
    A: zscan s 0 bad opt
    A: sscan s x junk
    A: sadd st a
    A: sscan st 0 count 0
    A: sscan st 0 match
    A: hset h f v
    A: hscan h 0 count 1000 extra
    A: zadd zs 1 m
    A: zscan zs 0 nomatch x
    `,
  );
});
