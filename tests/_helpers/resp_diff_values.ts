/**
 * The arguments the differential fuzzer (resp_diff.ts) draws from: keys, members, edge integers
 * and floats, score and lex bounds, and small helpers that combine them.
 *
 * @module
 */

import type { Rng } from "./random.ts";

/** Keys: few, so that types collide and WRONGTYPE paths run. */
export const KEYS = ["k0", "k1", "k2", "k3", "k4", "{x}5"];

export const MEMBERS = ["a", "b", "c", "d", "e", "", "1", "2", "10", "-1", "\x00\xff\r\n", "A"];
export const INTS = [
  "0",
  "1",
  "2",
  "3",
  "-1",
  "-2",
  "5",
  "-5",
  "100",
  "-100",
  "9223372036854775807",
  "-9223372036854775808",
  "9223372036854775808",
  "-9223372036854775809",
  "4294967296",
  "1.5",
  "abc",
  "",
  " 1",
  "1 ",
  "+1",
  "01",
  "-0",
  "0x10",
  "1e3",
  "\x00",
];
export const FLOATS = [
  "0",
  "1",
  "-1",
  "1.5",
  "-2.25",
  "0.1",
  "0.2",
  "3.0000000000000001",
  "1e308",
  "1e400",
  "-1e400",
  "inf",
  "-inf",
  "+inf",
  "Inf",
  "INFINITY",
  "nan",
  "NaN",
  "abc",
  "",
  " 1",
  "1e-5",
  "5e-324",
  "0x10",
  "1.",
  ".5",
  "-0",
  "10",
  "17179869184",
];
export const SCORE_BOUNDS = [
  "-inf",
  "+inf",
  "inf",
  "0",
  "1",
  "(1",
  "2.5",
  "(2.5",
  "-1",
  "(abc",
  "x",
  "(inf",
  "(-inf",
  "10",
  "nan",
  "",
];
export const LEX_BOUNDS = ["-", "+", "[a", "(a", "[c", "(c", "[", "(", "a", "", "[\x00\xff\r\n"];

/** Small ints mostly, edges sometimes. */
export function int(rng: Rng): string {
  return rng.chance(0.7) ? String(rng.int(13) - 4) : rng.pick(INTS);
}

/**
 * A time to live: long enough not to expire during a sequence (whose speed differs between the
 * servers), or an edge value.
 */
export function ttl(rng: Rng): string {
  return rng.chance(0.8) ? String(1000 + rng.int(100_000)) : rng.pick([
    "0",
    "-1",
    "-5",
    "abc",
    "",
    "1.5",
    "9223372036854775807",
    "9223372036854775",
    "9223372036854776",
  ]);
}

export function float(rng: Rng): string {
  return rng.chance(0.5) ? String(rng.int(9) - 3) : rng.pick(FLOATS);
}

export function member(rng: Rng): string {
  return rng.chance(0.9) ? rng.pick(MEMBERS) : bin(rng);
}

export function bin(rng: Rng): string {
  let s = "";
  const n = rng.int(6);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.int(256));
  return s;
}

export function value(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return int(rng);
    case 1:
      return float(rng);
    case 2:
      return bin(rng);
    case 3:
      return "x".repeat(rng.int(40));
    default:
      return rng.pick(MEMBERS);
  }
}

export function key(rng: Rng): string {
  return rng.chance(0.97) ? rng.pick(KEYS) : rng.pick(["", "nokey", "\x00"]);
}

export function some<T>(rng: Rng, f: (rng: Rng) => T, min = 1, max = 4): T[] {
  const n = min + rng.int(max - min + 1);
  return Array.from({ length: n }, () => f(rng));
}

export function opt(rng: Rng, p: number, ...words: string[]): string[] {
  return rng.chance(p) ? words : [];
}

/** Random subset of `flags` in random order (duplicates possible). */
export function flags(rng: Rng, flagList: string[], p = 0.3): string[] {
  const out: string[] = [];
  for (const f of flagList) if (rng.chance(p)) out.push(f);
  if (rng.chance(0.1)) out.push(rng.pick(flagList));
  return shuffle(rng, out);
}

export function shuffle<T>(rng: Rng, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function pairs(rng: Rng, f: () => string[], min = 1, max = 3): string[] {
  const n = min + rng.int(max - min + 1);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(...f());
  return out;
}

export function expiryOpt(rng: Rng): string[] {
  switch (rng.int(8)) {
    case 0:
      return ["EX", ttl(rng)];
    case 1:
      return ["PX", ttl(rng)];
    case 2:
      return ["EXAT", rng.pick(["4000000000", "1", "0", "-1"])];
    case 3:
      return ["PXAT", rng.pick(["4000000000000", "1", "0"])];
    case 4:
      return ["KEEPTTL"];
    case 5:
      return ["PERSIST"];
    default:
      return [];
  }
}

export function zrangeArgs(rng: Rng, name: string): string[] {
  const mode = rng.int(3);
  const args = [name];
  if (name === "ZRANGESTORE") args.push(key(rng));
  args.push(key(rng));
  const rev = rng.chance(0.3);
  if (mode === 0) args.push(int(rng), int(rng));
  else if (mode === 1) args.push(rng.pick(SCORE_BOUNDS), rng.pick(SCORE_BOUNDS), "BYSCORE");
  else args.push(rng.pick(LEX_BOUNDS), rng.pick(LEX_BOUNDS), "BYLEX");
  if (rev) args.push("REV");
  if (rng.chance(0.3)) args.push("LIMIT", int(rng), int(rng));
  if (name === "ZRANGE" && rng.chance(0.4)) args.push("WITHSCORES");
  if (rng.chance(0.15)) return shuffleTail(rng, args, name === "ZRANGESTORE" ? 5 : 4);
  return args;
}

export function shuffleTail(rng: Rng, args: string[], from: number): string[] {
  return [...args.slice(0, from), ...shuffle(rng, args.slice(from))];
}
