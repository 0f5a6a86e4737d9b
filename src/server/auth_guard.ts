/**
 * Token hygiene and AUTH guessing defences. ARCHITECTURE.md § "Authentication and bind security".
 *
 * - `checkAuthToken`: at startup, a token longer than `AUTH_TOKEN_BYTES_MAX` is refused (HTTP
 *   headers and replication handshakes could never carry it), and a non-loopback bind needs a
 *   token of at least `AUTH_TOKEN_PUBLIC_BYTES_MIN` bytes that is not a repetition of a few
 *   characters (estimated entropy >= `AUTH_TOKEN_PUBLIC_ENTROPY_BITS_MIN` bits).
 * - `AuthFailures`: failed AUTHs per source address within a window, for a bounded number of
 *   sources (the least recently failing is forgotten first), and the delay and close decision
 *   for one failure.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  AUTH_FAILURE_DELAY_MS,
  AUTH_FAILURE_DELAY_MS_MAX,
  AUTH_FAILURE_SOURCES_MAX,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURES_PER_CONNECTION_MAX,
  AUTH_FAILURES_PER_SOURCE_MAX,
  AUTH_TOKEN_BYTES_MAX,
  AUTH_TOKEN_PUBLIC_BYTES_MIN,
  AUTH_TOKEN_PUBLIC_ENTROPY_BITS_MIN,
} from "../limits.ts";

const encoder = new TextEncoder();

/**
 * Estimated entropy of `bytes` in bits: length × the Shannon entropy of its byte frequencies.
 * It cannot tell a random token from a guessable phrase; it only catches `aaaa...` and `abab...`.
 */
export function estimatedEntropyBits(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  let perByte = 0;
  for (const c of counts.values()) {
    const p = c / bytes.length;
    perByte -= p * Math.log2(p);
  }
  return perByte * bytes.length;
}

/**
 * Checks the token a server was given; throws `InvalidArgumentError` naming `source` (the flag
 * or variable it came from) and how to fix it. `publicBind`: the address is not loopback.
 */
export function checkAuthToken(
  token: string,
  options: { publicBind: boolean; source: string },
): void {
  const bytes = encoder.encode(token);
  if (bytes.length > AUTH_TOKEN_BYTES_MAX) {
    throw new InvalidArgumentError(
      `Auth token from ${options.source} is ${bytes.length} bytes: at most ` +
        `${AUTH_TOKEN_BYTES_MAX} are accepted (HTTP headers and replication handshakes carry ` +
        `no more)`,
    );
  }
  if (!options.publicBind) return;
  const fix = `use at least ${AUTH_TOKEN_PUBLIC_BYTES_MIN} random characters, e.g. the output ` +
    `of "openssl rand -hex 32"`;
  if (bytes.length < AUTH_TOKEN_PUBLIC_BYTES_MIN) {
    throw new InvalidArgumentError(
      `Auth token from ${options.source} is too short for a non-loopback --bind: ` +
        `${bytes.length} bytes; ${fix}`,
    );
  }
  const bits = estimatedEntropyBits(bytes);
  if (bits < AUTH_TOKEN_PUBLIC_ENTROPY_BITS_MIN) {
    throw new InvalidArgumentError(
      `Auth token from ${options.source} is too easy to guess for a non-loopback --bind ` +
        `(a few characters repeated, about ${Math.floor(bits)} bits); ${fix}`,
    );
  }
}

/** What to do after one failed AUTH. */
export interface AuthFailureVerdict {
  /** Delay before the reply (and anything after it) is written. */
  delayMs: number;
  /** Close the connection after the reply. */
  close: boolean;
  /** Failures of the source address within the window, this one included. */
  sourceFailures: number;
}

interface SourceRecord {
  windowStartMs: number;
  count: number;
}

/** Failed AUTHs per source address, bounded in the number of addresses. */
export class AuthFailures {
  /** Insertion order = least recently failing first (a failure moves its source to the end). */
  readonly #sources = new Map<string, SourceRecord>();

  /** Source addresses tracked now. */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /**
   * Records a failure from `host` on a connection that has now failed `connectionFailures`
   * times, and decides: the delay doubles per failure of the connection (from
   * `AUTH_FAILURE_DELAY_MS` to `AUTH_FAILURE_DELAY_MS_MAX`); the connection closes after
   * `AUTH_FAILURES_PER_CONNECTION_MAX` failures, or at once with the longest delay when its
   * address failed more than `AUTH_FAILURES_PER_SOURCE_MAX` times within the window.
   */
  record(host: string, connectionFailures: number, nowMs: number): AuthFailureVerdict {
    let rec = this.#sources.get(host);
    if (rec !== undefined) this.#sources.delete(host);
    if (rec === undefined || nowMs - rec.windowStartMs > AUTH_FAILURE_WINDOW_MS) {
      rec = { windowStartMs: nowMs, count: 0 };
    }
    rec.count++;
    this.#sources.set(host, rec);
    while (this.#sources.size > AUTH_FAILURE_SOURCES_MAX) {
      this.#sources.delete(this.#sources.keys().next().value!);
    }
    const exponent = Math.min(connectionFailures - 1, 30);
    let delayMs = Math.min(AUTH_FAILURE_DELAY_MS * 2 ** exponent, AUTH_FAILURE_DELAY_MS_MAX);
    let close = connectionFailures >= AUTH_FAILURES_PER_CONNECTION_MAX;
    if (rec.count > AUTH_FAILURES_PER_SOURCE_MAX) {
      delayMs = AUTH_FAILURE_DELAY_MS_MAX;
      close = true;
    }
    return { delayMs, close, sourceFailures: rec.count };
  }
}
