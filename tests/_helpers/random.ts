/**
 * THE seeded random generator of the tests (mulberry32), and the seed helpers: a failing run
 * prints its seed and replays with CITYHALL_SEED=…. Every test takes its randomness from here.
 *
 * @module
 */

/** Seeded random numbers for reproducible tests (mulberry32). */
export class Rng {
  #state: number;
  /** The seed this generator started from. */
  readonly seed: number;

  /** Creates a generator; the same seed gives the same sequence. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Random bytes of length n. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** A seed from CITYHALL_SEED, or a fresh random one. */
export function seedFromEnv(): number {
  const fromEnv = Deno.env.get("CITYHALL_SEED");
  return fromEnv ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** An integer from an environment variable, or the default. */
export function intFromEnv(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v ? Number(v) : fallback;
}

/** A function returning floats in [0, 1) from `seed` (the same sequence as `new Rng(seed)`). */
export function randomFn(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** `count` seeds to run, or just CITYHALL_SEED when it is set (to replay one failure). */
export function seedsFromEnv(count: number): number[] {
  const fixed = Deno.env.get("CITYHALL_SEED");
  if (fixed !== undefined) return [Number(fixed) >>> 0];
  const base = (Math.random() * 2 ** 32) >>> 0;
  return Array.from({ length: count }, (_, i) => (base + i * 7919) >>> 0);
}
