/**
 * Redis glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes, on raw
 * bytes. Iterative with one backtrack point per `*`, so the cost is bounded by
 * `pattern.length * subject.length` and there is no recursion.
 *
 * @module
 */

const STAR = 42;
const QUESTION = 63;
const OPEN = 91;
const CLOSE = 93;
const BACKSLASH = 92;
const CARET = 94;
const DASH = 45;

function fold(c: number, nocase: boolean): number {
  return nocase && c >= 65 && c <= 90 ? c + 32 : c;
}

/** Matches `[...]` starting at `pattern[p] === '['`; returns the index after `]`, or -1. */
function matchClass(pattern: Uint8Array, p: number, c: number, nocase: boolean): number {
  const n = pattern.length;
  p++;
  const not = p < n && pattern[p] === CARET;
  if (not) p++;
  let match = false;
  c = fold(c, nocase);
  while (true) {
    if (p >= n) {
      // An unterminated class ends at the end of the pattern, as in Redis.
      break;
    }
    const pc = pattern[p]!;
    if (pc === BACKSLASH && p + 1 < n) {
      p++;
      if (fold(pattern[p]!, nocase) === c) match = true;
    } else if (pc === CLOSE) {
      break;
    } else if (p + 2 < n && pattern[p + 1] === DASH) {
      let start = fold(pc, nocase);
      let end = fold(pattern[p + 2]!, nocase);
      if (start > end) [start, end] = [end, start];
      if (c >= start && c <= end) match = true;
      p += 2;
    } else if (fold(pc, nocase) === c) {
      match = true;
    }
    p++;
  }
  if (not) match = !match;
  if (!match) return -1;
  return p < n ? p + 1 : p;
}

/** True when `subject` matches the glob `pattern` (byte-wise; `nocase` folds ASCII). */
export function globMatch(pattern: Uint8Array, subject: Uint8Array, nocase = false): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  const pn = pattern.length;
  const sn = subject.length;
  while (true) {
    if (p < pn) {
      const pc = pattern[p]!;
      if (pc === STAR) {
        while (p < pn && pattern[p] === STAR) p++;
        if (p === pn) return true;
        starP = p;
        starS = s;
        continue;
      }
      if (s < sn) {
        let next = -1;
        if (pc === QUESTION) next = p + 1;
        else if (pc === OPEN) next = matchClass(pattern, p, subject[s]!, nocase);
        else if (pc === BACKSLASH && p + 1 < pn) {
          if (fold(pattern[p + 1]!, nocase) === fold(subject[s]!, nocase)) next = p + 2;
        } else if (fold(pc, nocase) === fold(subject[s]!, nocase)) next = p + 1;
        if (next >= 0) {
          p = next;
          s++;
          continue;
        }
      }
    } else if (s === sn) {
      return true;
    }
    // Mismatch: let the last `*` swallow one more byte, or fail.
    if (starP < 0 || starS >= sn) return false;
    starS++;
    s = starS;
    p = starP;
  }
}

/**
 * The literal prefix every match of `pattern` starts with (escapes resolved), and whether the
 * pattern is exactly `prefix*` so no per-key matching is needed.
 */
export function globPrefix(pattern: Uint8Array): { prefix: Uint8Array; prefixOnly: boolean } {
  const out: number[] = [];
  let p = 0;
  while (p < pattern.length) {
    const c = pattern[p]!;
    if (c === STAR || c === QUESTION || c === OPEN) break;
    if (c === BACKSLASH) {
      if (p + 1 >= pattern.length) break;
      out.push(pattern[p + 1]!);
      p += 2;
      continue;
    }
    out.push(c);
    p++;
  }
  let prefixOnly = p < pattern.length && pattern[p] === STAR;
  for (let q = p; q < pattern.length; q++) if (pattern[q] !== STAR) prefixOnly = false;
  return { prefix: Uint8Array.from(out), prefixOnly };
}
