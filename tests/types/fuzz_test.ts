/**
 * fuzz: random sequences of hash, set, sorted-set and list commands (keys and members drawn
 * from small alphabets so they collide, occasional wrong types, bad arguments and MULTI/EXEC)
 * sent pipelined to CityHall and to redis-server 7.0; every reply must be byte-identical.
 * Only commands whose replies Redis orders deterministically are drawn (no HGETALL/SMEMBERS of
 * hashed encodings, no random picks; no lex ranges, which Redis defines only when every score is
 * equal: the scenarios in zset_compat_test.ts cover them). Seeded: CITYHALL_SEED reproduces a run.
 */
import { assertEquals } from "@std/assert";
import { command, startTestServer } from "../server/_helpers.ts";
import { startRedisServer } from "../server/_redis.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { fuzzCases } from "../_helpers/fuzz.ts";

const KEYS = ["h1", "h2", "s1", "s2", "z1", "z2", "l1", "l2", "str"];
const MEMBERS = ["a", "b", "c", "d", "e", "1", "2", "10", "-3"];
const SCORES = ["0", "1", "-1", "2.5", "1e3", "-inf", "+inf", "(1", "x", "3"];
const INDEXES = ["0", "1", "-1", "2", "-2", "5", "-100", "100"];

function gen(rng: Rng): string[] {
  const k = () => rng.pick(KEYS);
  const m = () => rng.pick(MEMBERS);
  const s = () => rng.pick(SCORES);
  const i = () => rng.pick(INDEXES);
  const forms: (() => string[])[] = [
    () => ["hset", k(), m(), m(), m(), m()],
    () => ["hsetnx", k(), m(), m()],
    () => ["hget", k(), m()],
    () => ["hmget", k(), m(), m()],
    () => ["hdel", k(), m(), m()],
    () => ["hlen", k()],
    () => ["hexists", k(), m()],
    () => ["hstrlen", k(), m()],
    () => ["hincrby", k(), m(), i()],
    () => ["sadd", k(), m(), m()],
    () => ["srem", k(), m()],
    () => ["scard", k()],
    () => ["sismember", k(), m()],
    () => ["smismember", k(), m(), m()],
    () => ["sintercard", "2", k(), k()],
    () => ["smove", k(), k(), m()],
    () => ["sinterstore", k(), k(), k()],
    () => ["sunionstore", k(), k(), k()],
    () => ["sdiffstore", k(), k(), k()],
    () => ["zadd", k(), s(), m(), s(), m()],
    () => ["zadd", k(), rng.pick(["nx", "xx", "gt", "lt", "ch", "incr"]), s(), m()],
    () => ["zincrby", k(), s(), m()],
    () => ["zrem", k(), m(), m()],
    () => ["zcard", k()],
    () => ["zscore", k(), m()],
    () => ["zmscore", k(), m(), m()],
    () => ["zrank", k(), m()],
    () => ["zrevrank", k(), m()],
    () => ["zcount", k(), s(), s()],
    () => ["zrange", k(), i(), i(), "withscores"],
    () => ["zrange", k(), s(), s(), "byscore", "limit", i(), i()],
    () => ["zrange", k(), s(), s(), "byscore", "rev", "withscores"],
    () => ["zremrangebyscore", k(), s(), s()],
    () => ["zremrangebyrank", k(), i(), i()],
    () => ["zpopmin", k(), rng.pick(["1", "2", "0"])],
    () => ["zpopmax", k()],
    () => ["zunionstore", k(), "2", k(), k(), "weights", "1", rng.pick(["2", "-1", "0"])],
    () => ["zinterstore", k(), "2", k(), k(), "aggregate", rng.pick(["min", "max", "sum"])],
    () => ["zdiff", "2", k(), k(), "withscores"],
    () => ["zrangestore", k(), k(), i(), i()],
    () => ["lpush", k(), m(), m()],
    () => ["rpush", k(), m()],
    () => ["lpop", k()],
    () => ["rpop", k(), rng.pick(["1", "2", "0"])],
    () => ["llen", k()],
    () => ["lrange", k(), i(), i()],
    () => ["lindex", k(), i()],
    () => ["lset", k(), i(), m()],
    () => ["lrem", k(), i(), m()],
    () => ["ltrim", k(), i(), i()],
    () => ["linsert", k(), rng.pick(["before", "after"]), m(), m()],
    () => ["lpos", k(), m(), "rank", rng.pick(["1", "-1", "2"]), "count", rng.pick(["0", "1"])],
    () => ["lmove", k(), k(), rng.pick(["left", "right"]), rng.pick(["left", "right"])],
    () => ["lmpop", "2", k(), k(), rng.pick(["left", "right"]), "count", "2"],
    () => ["set", k(), m()],
    () => ["del", k()],
    () => ["type", k()],
    () => ["rename", k(), k()],
    () => ["copy", k(), k(), "replace"],
    () => ["exists", k()],
  ];
  return rng.pick(forms)();
}

/** Splits a RESP2 transcript into its top-level replies. */
function splitReplies(text: string): string[] {
  const out: string[] = [];
  let pos = 0;
  const skip = (): void => {
    const end = text.indexOf("\r\n", pos);
    const type = text[pos];
    const line = text.slice(pos + 1, end);
    pos = end + 2;
    if (type === "$" && Number(line) >= 0) pos += Number(line) + 2;
    else if (type === "*") { for (let n = Number(line); n > 0; n--) skip(); }
  };
  while (pos < text.length) {
    const start = pos;
    skip();
    out.push(text.slice(start, pos));
  }
  return out;
}

async function exchange(port: number, cmds: string[][]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const parts = cmds.map((c) => command(...c));
  parts.push(command("PING", "__end__"));
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const writing = (async () => {
    let off = 0;
    while (off < all.length) off += await conn.write(all.subarray(off));
  })();
  let text = "";
  const buf = new Uint8Array(65536);
  const dec = new TextDecoder("latin1");
  while (!text.endsWith("$7\r\n__end__\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  await writing;
  conn.close();
  return text;
}

Deno.test("fuzz: random type commands answer byte for byte as redis-server 7.0", async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} reproduces)`);
  const rng = new Rng(seed);
  const ours = await startTestServer();
  const redis = await startRedisServer();
  try {
    const rounds = fuzzCases(10);
    for (let round = 0; round < rounds; round++) {
      const cmds: string[][] = [["flushall"]];
      for (let n = 0; n < 150; n++) {
        if (rng.chance(0.03)) {
          cmds.push(["multi"]);
          for (let j = 0; j < 4; j++) cmds.push(gen(rng));
          cmds.push(["exec"]);
        } else cmds.push(gen(rng));
      }
      const [a, b] = await Promise.all([exchange(ours.port, cmds), exchange(redis.port, cmds)]);
      if (a !== b) {
        // Name the first command whose reply differs.
        const ra = splitReplies(a);
        const rb = splitReplies(b);
        let i = 0;
        while (i < ra.length && ra[i] === rb[i]) i++;
        assertEquals(
          `${cmds[i]?.join(" ")} -> ${JSON.stringify(ra[i])}`,
          `${cmds[i]?.join(" ")} -> ${JSON.stringify(rb[i])}`,
          `seed ${seed} round ${round}, command ${i}; the commands before it:\n` +
            cmds.slice(0, i).map((c) => c.join(" ")).join("\n"),
        );
      }
    }
  } finally {
    await redis.stop();
    await ours.close();
  }
});
