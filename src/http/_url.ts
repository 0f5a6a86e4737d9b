/**
 * Request-target parsing that keeps bytes exact. `new URL()` would normalise dot segments and
 * `decodeURIComponent` rejects percent-escapes that are not UTF-8, but keys are arbitrary bytes:
 * `/v1/keys/%FF%00` names the two-byte key `ff 00`. So the raw target is split by hand and
 * percent-decoded straight into bytes.
 *
 * @module
 */

import { HttpError } from "./_response.ts";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The path and query of a request, both still percent-encoded. */
export interface RequestTarget {
  /** Path, starting with `/`. */
  path: string;
  /** Query without the `?`; empty when there is none. */
  query: string;
}

/** Splits `req.url` (`http://host/path?query#fragment`) without normalising the path. */
export function splitTarget(url: string): RequestTarget {
  let rest = url;
  const scheme = rest.indexOf("://");
  if (scheme >= 0) {
    const slash = rest.indexOf("/", scheme + 3);
    rest = slash < 0 ? "/" : rest.slice(slash);
  }
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  if (q < 0) return { path: rest, query: "" };
  return { path: rest.slice(0, q), query: rest.slice(q + 1) };
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes `text` into bytes. `%XX` becomes byte XX; other characters are UTF-8
 * encoded; with `plusIsSpace` (query strings, as HTML forms send them) `+` becomes a space.
 * A `%` not followed by two hex digits is a 400 naming `what`.
 */
export function percentDecode(text: string, what: string, plusIsSpace = false): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) {
        throw new HttpError(400, `Invalid percent-encoding in ${what}: at character ${i}`);
      }
      out[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b && plusIsSpace) {
      out[n++] = 0x20;
    } else if (c < 0x80) {
      out[n++] = c;
    } else {
      // Not expected from a conforming client, but a raw non-ASCII character means itself.
      const cp = text.codePointAt(i)!;
      const bytes = encoder.encode(String.fromCodePoint(cp));
      out.set(bytes, n);
      n += bytes.length;
      if (cp > 0xffff) i++;
    }
  }
  return out.slice(0, n);
}

/** Query parameters as raw bytes; the first occurrence of a name wins. */
export class QueryParams {
  readonly #params = new Map<string, Uint8Array>();

  /** Parses a query string (without `?`). */
  constructor(query: string) {
    if (query.length === 0) return;
    for (const part of query.split("&")) {
      if (part.length === 0) continue;
      const eq = part.indexOf("=");
      const rawName = eq < 0 ? part : part.slice(0, eq);
      const rawValue = eq < 0 ? "" : part.slice(eq + 1);
      const name = utf8(percentDecode(rawName, "query parameter name", true), "parameter name");
      if (this.#params.has(name)) continue;
      this.#params.set(name, percentDecode(rawValue, `query parameter ${name}`, true));
    }
  }

  /** The raw bytes of parameter `name`, or `undefined` when absent. */
  bytes(name: string): Uint8Array | undefined {
    return this.#params.get(name);
  }

  /** Parameter `name` as a string (must be valid UTF-8), or `undefined` when absent. */
  string(name: string): string | undefined {
    const b = this.#params.get(name);
    return b === undefined ? undefined : utf8(b, `query parameter ${name}`);
  }

  /** True when parameter `name` is present. */
  has(name: string): boolean {
    return this.#params.has(name);
  }
}

/** Strict UTF-8 decoding: invalid sequences are a 400 naming `what`. */
export function utf8(bytes: Uint8Array, what: string): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new HttpError(400, `Invalid ${what}: not valid UTF-8`);
  }
}
