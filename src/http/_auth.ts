/**
 * Bearer-token check. Both the expected token and the presented one are hashed with SHA-256
 * and the digests compared with `timingSafeEqual`, so neither the comparison time nor the
 * digest lengths depend on how much of the token matched or on its length.
 *
 * @module
 */

import { timingSafeEqual } from "../util/timing_safe_equal.ts";
import { HTTP_AUTH_HEADER_LENGTH_MAX } from "../limits.ts";

const encoder = new TextEncoder();

/** Answers whether a request's `Authorization` header carries the server's token. */
export type Authenticator = (authorization: string | null) => Promise<boolean>;

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** An authenticator for `token`; every request passes when `token` is `undefined`. */
export async function createAuthenticator(token: string | undefined): Promise<Authenticator> {
  if (token === undefined) return () => Promise.resolve(true);
  const expected = await sha256(token);
  return async (authorization) => {
    if (authorization === null || authorization.length > HTTP_AUTH_HEADER_LENGTH_MAX) {
      return false;
    }
    const match = /^Bearer +(.+)$/is.exec(authorization);
    if (match === null) return false;
    const presented = await sha256(match[1]!);
    return timingSafeEqual(presented, expected);
  };
}
