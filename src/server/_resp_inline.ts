/**
 * Inline requests (one line of space-separated words, `redis-cli`'s and telnet's form): the
 * word splitting of Redis's `sdssplitargs` and the check that a line is an HTTP request sent to
 * the RESP port. Used by the request parser (`resp.ts`) and the CLI prompt.
 * ARCHITECTURE.md § "Framing (requests)".
 *
 * @module
 */

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Splits an inline line into words like Redis's `sdssplitargs`: words are separated by
 * whitespace; `"..."` takes `\n \r \t \b \a \xHH` and `\<c>` escapes; `'...'` takes only `\'`; a
 * closing quote must be followed by whitespace or the end. Returns `undefined` on unbalanced
 * quotes.
 */
export function splitInlineArgs(line: Uint8Array): Uint8Array[] | undefined {
  const args: Uint8Array[] = [];
  let p = 0;
  const n = line.length;
  while (true) {
    while (p < n && isSpace(line[p]!)) p++;
    if (p >= n) return args;
    const word: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      if (inDouble) {
        if (p >= n) return undefined;
        const c = line[p]!;
        if (
          c === 92 && p + 3 < n && line[p + 1] === 120 /* x */ && hexValue(line[p + 2]!) >= 0 &&
          hexValue(line[p + 3]!) >= 0
        ) {
          word.push(hexValue(line[p + 2]!) * 16 + hexValue(line[p + 3]!));
          p += 3;
        } else if (c === 92 && p + 1 < n) {
          p++;
          const e = line[p]!;
          word.push(
            e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e,
          );
        } else if (c === 34 /* " */) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return undefined;
          done = true;
        } else {
          word.push(c);
        }
      } else if (inSingle) {
        if (p >= n) return undefined;
        const c = line[p]!;
        if (c === 92 && p + 1 < n && line[p + 1] === 39) {
          p++;
          word.push(39);
        } else if (c === 39 /* ' */) {
          if (p + 1 < n && !isSpace(line[p + 1]!)) return undefined;
          done = true;
        } else {
          word.push(c);
        }
      } else {
        if (p >= n) break;
        const c = line[p]!;
        if (isSpace(c) || c === 0) done = true;
        else if (c === 34) inDouble = true;
        else if (c === 39) inSingle = true;
        else word.push(c);
      }
      if (p < n) p++;
    }
    args.push(Uint8Array.from(word));
  }
}

const HTTP_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "PATCH",
  "CONNECT",
  "TRACE",
]);

const latin1 = new TextDecoder("latin1");

/** True when `args` (an inline line) is an HTTP request sent to the RESP port. */
export function looksLikeHttp(args: Uint8Array[]): boolean {
  const first = latin1.decode(args[0]!).toLowerCase();
  // Redis closes on `POST` and `Host:` (its securityWarningCommand); we also catch the request
  // line itself so nothing of it is executed.
  if (first === "post" || first === "host:") return true;
  if (args.length !== 3) return false;
  return HTTP_METHODS.has(first.toUpperCase()) && /^HTTP\/\d/.test(latin1.decode(args[2]!));
}
