/**
 * Who may listen where: a server bound beyond loopback needs an auth token unless the operator
 * overrides it (ARCHITECTURE.md § "Authentication and bind security").
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

/** True when `hostname` only accepts connections from this machine. */
export function isLoopback(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/**
 * The bind security rule: a non-loopback address needs a token unless `insecureNoAuth` says
 * otherwise. Throws `InvalidArgumentError` (how to fix it in the message) when refusing;
 * returns a warning to log loudly when the override is used, else `undefined`. The token's
 * own rules (length, guessability) are `checkAuthToken`'s.
 */
export function checkBindSecurity(
  hostname: string,
  options: { authToken?: string | undefined; insecureNoAuth?: boolean | undefined } = {},
): string | undefined {
  if (isLoopback(hostname) || (options.authToken !== undefined && options.authToken !== "")) {
    return undefined;
  }
  if (options.insecureNoAuth) {
    return `Listening on ${hostname} without authentication: anyone who can reach this ` +
      `address can read and change every key (--insecure-no-auth)`;
  }
  throw new InvalidArgumentError(
    `Refusing to listen on non-loopback address ${hostname} without an auth token: set one ` +
      `with --auth-token-file FILE or CITYHALL_AUTH_TOKEN, or pass --insecure-no-auth`,
  );
}
