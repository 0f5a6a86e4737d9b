/**
 * Comparing secrets (auth token digests) in time that does not depend on where they differ.
 * CityHall's own rather than `@std/crypto`'s, so that `serve` loads no npm package at start
 * (ARCHITECTURE.md § "Memory").
 *
 * @module
 */

/**
 * True when `a` and `b` hold the same bytes. Every byte is looked at whatever the first
 * difference, so the time tells only the length (the callers compare SHA-256 digests: always
 * 32 bytes).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
