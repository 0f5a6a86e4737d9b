/**
 * Differential fuzzer: the same seeded random command sequences (resp_diff_commands.ts) sent to
 * a CityHall server and to a redis-server, every reply compared by type and value (errors by
 * their text). A tool, run by hand against two running servers:
 *
 *   redis-server --port 7901 --save '' --appendonly no &
 *   deno run -A --unstable-lazy-dynamic-imports src/main.ts serve --port 7900 --no-http \
 *     --data-dir /tmp/d --sync none &
 *   deno run -A tests/_helpers/resp_diff.ts --ours 7900 --redis 7901 --seed 1 --seqs 200
 *
 * Each sequence starts with FLUSHALL on both. A divergence other than an error's text ends its
 * sequence (the two keyspaces may differ from then on). Divergences are grouped by command and
 * kind; the first of each group is printed with its seed, sequence and step, and the commands
 * of that sequence so far (`--verbose`) to turn it into a regression test.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { Rng } from "./random.ts";
import { type Reply, RespClient, showReply } from "./resp_client.ts";
import { type Compare, type Gen, KEYS, randomCommand } from "./resp_diff_commands.ts";

/** A divergence between the two servers' replies. */
export interface Divergence {
  kind: "error-text" | "value";
  ours: Reply;
  theirs: Reply;
}

/**
 * A reply as text for comparison. A score of -0 reads "-0" from Redis only in a sorted set it
 * holds as a skiplist (more than 128 members, or one over 64 bytes), "0" in a small one;
 * CityHall always answers "0". Not compared: "-0" is taken as "0".
 */
function show(r: Reply): string {
  return showReply(r).replace(/([$,])"-0"/g, '$1"0"');
}

function sorted(items: Reply[]): string {
  return items.map(show).sort().join("|");
}

function pairsOf(items: Reply[]): string {
  const out: string[] = [];
  for (let i = 0; i + 1 < items.length; i += 2) {
    out.push(show(items[i]!) + "=" + show(items[i + 1]!));
  }
  return out.sort().join("|") + (items.length % 2 === 1 ? "|odd" : "");
}

function shape(r: Reply): string {
  if (r.t === "*" || r.t === "%" || r.t === "~") return `${r.t}${r.v.length}`;
  if (r.t === "-") return `-${r.v}`;
  return r.t;
}

/**
 * SORT … ALPHA compares elements with strcoll, as C strings: elements equal up to a NUL byte
 * ("" and "\0x") are ties, which Redis leaves in an unspecified order. Replies that differ only
 * there are not a divergence.
 */
function alphaTies(gen: Gen, ours: Reply, theirs: Reply): boolean {
  if (!/^sort/i.test(gen.args[0]!) || !gen.args.some((a) => /^alpha$/i.test(a))) return false;
  if (ours.t !== "*" || theirs.t !== "*" || ours.v.length !== theirs.v.length) return false;
  const cut = (r: Reply) => r.t === "$" ? r.v.split("\0")[0] : show(r);
  return ours.v.every((r, i) => cut(r) === cut(theirs.v[i]!)) &&
    sorted(ours.v) === sorted(theirs.v);
}

function partialScan(r: Reply): boolean {
  return r.t === "*" && r.v.length === 2 && r.v[0]!.t === "$" && r.v[0]!.v !== "0";
}

/** Canonical form of a reply under `how` (errors always by their full text). */
function canonical(r: Reply, how: Compare): string {
  if (r.t === "-") return show(r);
  switch (how) {
    case "unordered":
      return r.t === "*" || r.t === "~" ? `${r.t}{${sorted(r.v)}}` : show(r);
    case "pairs":
      return r.t === "*" || r.t === "%" ? `${r.t}{${pairsOf(r.v)}}` : show(r);
    case "scan":
    case "scanpairs":
      if (r.t === "*" && r.v.length === 2 && r.v[1]!.t === "*") {
        const els = r.v[1]!.v;
        return `${show(r.v[0]!)} {${how === "scan" ? sorted(els) : pairsOf(els)}}`;
      }
      return show(r);
    case "shape":
      return shape(r);
    case "ttl":
    case "pttl":
      // Expiry times past year 275760 are kept as that (EXPIRE_AT_MS_MAX): a known difference.
      if (r.t === ":" && r.v >= (how === "ttl" ? 8_000_000_000_000n : 8_000_000_000_000_000n)) {
        return ":huge";
      }
      if (r.t === ":" && r.v > 0n) {
        const slack = how === "ttl" ? 3n : 3000n;
        return `:~${r.v / slack}`;
      }
      return show(r);
    default:
      return show(r);
  }
}

function timeClose(a: Reply, b: Reply, how: Compare): boolean {
  if (a.t !== ":" || b.t !== ":") return false;
  const slack = how === "ttl" ? 2n : 2000n;
  const d = a.v - b.v;
  return a.v > 0n && b.v > 0n && d <= slack && d >= -slack;
}

/** Compares two replies to `gen`; null when they agree. */
export function compareReplies(gen: Gen, ours: Reply, theirs: Reply): Divergence | null {
  const how = gen.compare;
  // A cursor other than 0 on either side: CityHall returns a key of up to 128 members whole
  // where Redis walks a big encoding (a member over 64 bytes) 10 at a time. Not compared.
  if ((how === "scan" || how === "scanpairs") && (partialScan(ours) || partialScan(theirs))) {
    return ours.t === theirs.t ? null : { kind: "value", ours, theirs };
  }
  if (how === "dbsize" && ours.t === ":" && theirs.t === ":" && ours.v <= theirs.v) return null;
  // Redis's SORT tests a stale errno (never reset before its strtod): after a command whose own
  // strtod set ERANGE (a denormal score) it may refuse any weight. A Redis bug, not followed.
  if (
    theirs.t === "-" && theirs.v.startsWith("ERR One or more scores can't be converted") &&
    (ours.t === "*" || ours.t === ":")
  ) return null;
  if ((how === "ttl" || how === "pttl") && timeClose(ours, theirs, how)) return null;
  if (canonical(ours, how) === canonical(theirs, how)) return null;
  if (alphaTies(gen, ours, theirs)) return null;
  if (ours.t === "-" && theirs.t === "-") {
    const first = (s: string) => s.split(" ")[0];
    if (first(ours.v) === first(theirs.v)) return { kind: "error-text", ours, theirs };
  }
  return { kind: "value", ours, theirs };
}

/** Compares an EXEC reply element by element with the queued commands' rules. */
function compareExec(
  gens: Gen[],
  ours: Reply,
  theirs: Reply,
): { gen: Gen; d: Divergence } | null {
  const exec: Gen = { args: ["EXEC"], compare: "exact" };
  if (ours.t !== "*" || theirs.t !== "*" || ours.v.length !== theirs.v.length) {
    const d = compareReplies(exec, ours, theirs);
    return d === null ? null : { gen: exec, d };
  }
  for (let i = 0; i < ours.v.length; i++) {
    const gen = gens[i] ?? exec;
    const d = compareReplies(gen, ours.v[i]!, theirs.v[i]!);
    if (d !== null) return { gen: { ...gen, args: ["EXEC>", ...gen.args] }, d };
  }
  return null;
}

interface Pair {
  ours: RespClient;
  theirs: RespClient;
}

/** A group of divergences with the same command and kind. */
interface Group {
  count: number;
  first: string;
}

/** Runs the fuzzer; returns the groups of divergences found. */
export async function runDiff(options: {
  oursPort: number;
  redisPort: number;
  seed: number;
  firstSeq: number;
  seqs: number;
  len: number;
  verbose: boolean;
  resp3: boolean;
  /** Commands of the history shown with a divergence (`--verbose`). */
  history?: number;
}): Promise<{ commands: number; groups: Map<string, Group> }> {
  const groups = new Map<string, Group>();
  let commands = 0;
  const connect = async (): Promise<Pair> => ({
    ours: await RespClient.connect(options.oursPort),
    theirs: await RespClient.connect(options.redisPort),
  });
  const hello = async (p: Pair) => {
    if (options.resp3) {
      await Promise.all([p.ours.call(["HELLO", "3"]), p.theirs.call(["HELLO", "3"])]);
    }
    return p;
  };
  let a = await hello(await connect());
  let b = await hello(await connect());
  for (let seq = options.firstSeq; seq < options.firstSeq + options.seqs; seq++) {
    const rng = new Rng(options.seed * 100_003 + seq);
    const log: string[] = [];
    await a.ours.call(["FLUSHALL"]);
    await a.theirs.call(["FLUSHALL"]);
    const record = (gen: Gen, d: Divergence, step: number) => {
      const name = gen.args[0]!.toUpperCase();
      const sig = `${name} ${d.kind} ${shape(d.ours).slice(0, 40)} vs ${
        shape(d.theirs).slice(0, 40)
      }`;
      const g = groups.get(sig);
      if (g !== undefined) {
        g.count++;
        return;
      }
      const text = `seed ${options.seed} seq ${seq} step ${step}: ${
        gen.args.map((s) => JSON.stringify(s)).join(" ")
      }\n  ours:   ${showReply(d.ours)}\n  theirs: ${showReply(d.theirs)}` +
        (options.verbose
          ? `\n  history:\n    ${log.slice(-(options.history ?? 40)).join("\n    ")}`
          : "");
      groups.set(sig, { count: 1, first: text });
      console.log(`DIVERGENCE ${sig}\n${text}`);
    };
    const send = async (pair: Pair, gen: Gen): Promise<[Reply, Reply]> => {
      log.push(
        gen.args.map((s) =>
          JSON.stringify(s)
        ).join(" "),
      );
      commands++;
      const [o, t] = await Promise.all([
        pair.ours.call(gen.args).catch((e) => {
          throw new Error(`CityHall: ${e}`);
        }),
        pair.theirs.call(gen.args).catch((e) => {
          throw new Error(`redis-server: ${e}`);
        }),
      ]);
      if (gen.thenDel !== undefined) {
        await Promise.all([
          pair.ours.call(["DEL", gen.thenDel]),
          pair.theirs.call(["DEL", gen.thenDel]),
        ]);
      }
      return [o, t];
    };
    let step = 0;
    try {
      while (step < options.len) {
        const roll = rng.int(100);
        if (roll < 6) {
          // A transaction, sometimes with a WATCH broken (or not) by the other connection.
          const watch = rng.chance(0.5) ? rng.pick(KEYS) : undefined;
          if (watch !== undefined) await send(a, { args: ["WATCH", watch], compare: "exact" });
          const queued: Gen[] = [];
          let [o, t] = await send(a, { args: ["MULTI"], compare: "exact" });
          const n = 1 + rng.int(4);
          for (let i = 0; i < n; i++) {
            let gen = randomCommand(rng);
            // The transaction's own EXEC or DISCARD comes last.
            while (/^(exec|discard)$/i.test(gen.args[0]!)) gen = randomCommand(rng);
            delete gen.thenDel;
            if (gen.args[0]!.toUpperCase() === "SPOP") gen.args[0] = "SCARD";
            [o, t] = await send(a, gen);
            step++;
            // Not queued (an EXEC or DISCARD generated inside ended the transaction, or WATCH
            // and MULTI refused inside it): then answered at once, compared by its own rule.
            const isQueued = o.t === "+" && o.v === "QUEUED";
            const d = compareReplies(isQueued ? { args: gen.args, compare: "exact" } : gen, o, t);
            if (d !== null && !(await lexUnspecified(a, gen))) {
              record(gen, d, step);
              if (d.kind !== "error-text") throw new Stop();
            }
            if (isQueued) queued.push(gen);
          }
          if (watch !== undefined && rng.chance(0.5)) {
            await send(b, randomCommand(rng));
          }
          const end: Gen = { args: [rng.chance(0.85) ? "EXEC" : "DISCARD"], compare: "exact" };
          [o, t] = await send(a, end);
          const e = end.args[0] === "EXEC"
            ? compareExec(queued, o, t)
            : ((d) => d === null ? null : { gen: end, d })(compareReplies(end, o, t));
          if (e !== null && !(await lexUnspecified(a, e.gen))) {
            record(e.gen, e.d, step);
            if (e.d.kind !== "error-text") throw new Stop();
          }
          continue;
        }
        const gen = randomCommand(rng);
        const pair = roll < 10 ? b : a;
        const [o, t] = await send(pair, gen);
        step++;
        const d = compareReplies(gen, o, t);
        if (d !== null && !(await lexUnspecified(pair, gen))) {
          record(gen, d, step);
          if (d.kind !== "error-text") throw new Stop();
        }
      }
    } catch (err) {
      if (!(err instanceof Stop)) {
        console.log(`seed ${options.seed} seq ${seq} step ${step}: ${err}`);
        console.log(`  history:\n    ${log.slice(-(options.verbose ? 60 : 10)).join("\n    ")}`);
        for (const p of [a, b]) {
          p.ours.close();
          p.theirs.close();
        }
        a = await hello(await connect());
        b = await hello(await connect());
      }
    }
    // Leave no transaction or watch open between sequences.
    for (const p of [a, b]) {
      await Promise.all([p.ours.call(["DISCARD"]), p.theirs.call(["DISCARD"])]);
      await Promise.all([p.ours.call(["UNWATCH"]), p.theirs.call(["UNWATCH"])]);
    }
  }
  for (const p of [a, b]) {
    p.ours.close();
    p.theirs.close();
  }
  return { commands, groups };
}

class Stop extends Error {}

const LEX_COMMANDS = new Set(["ZLEXCOUNT", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZREMRANGEBYLEX"]);

/**
 * A lex range over a sorted set whose members do not all have the same score: Redis documents
 * the result as unspecified (its skiplist walk depends on random node levels), so a difference
 * is not a divergence. The keys involved are deleted on both servers, which may differ from
 * then on.
 */
async function lexUnspecified(pair: Pair, gen: Gen): Promise<boolean> {
  const args = gen.args[0] === "EXEC>" ? gen.args.slice(1) : gen.args;
  const name = args[0]!.toUpperCase();
  const byLex = args.some((a) => a.toUpperCase() === "BYLEX");
  if (!LEX_COMMANDS.has(name) && !((name === "ZRANGE" || name === "ZRANGESTORE") && byLex)) {
    return false;
  }
  const key = name === "ZRANGESTORE" ? args[2]! : args[1]!;
  const r = await pair.theirs.call(["ZRANGE", key, "0", "-1", "WITHSCORES"]);
  if (r.t !== "*") return false;
  const scores = new Set(r.v.filter((_, i) => i % 2 === 1).map(showReply));
  if (scores.size <= 1) return false;
  const keys = name === "ZRANGESTORE" ? [args[1]!, key] : [key];
  await Promise.all([pair.ours.call(["DEL", ...keys]), pair.theirs.call(["DEL", ...keys])]);
  return true;
}

if (import.meta.main) {
  const flags = parseArgs(Deno.args, {
    string: ["ours", "redis", "seed", "seqs", "len", "first-seq", "history"],
    boolean: ["verbose", "resp3"],
  });
  const seed = Number(flags.seed ?? 1);
  const result = await runDiff({
    oursPort: Number(flags.ours ?? 7900),
    redisPort: Number(flags.redis ?? 7901),
    seed,
    firstSeq: Number(flags["first-seq"] ?? 0),
    seqs: Number(flags.seqs ?? 100),
    len: Number(flags.len ?? 200),
    verbose: flags.verbose === true,
    resp3: flags.resp3 === true,
    history: Number(flags.history ?? 40),
  });
  console.log(
    `\n${result.commands} commands, seed ${seed}; ${result.groups.size} kinds of divergence:`,
  );
  for (const [sig, g] of [...result.groups].sort((x, y) => y[1].count - x[1].count)) {
    console.log(`  ${g.count}x ${sig}`);
  }
}
