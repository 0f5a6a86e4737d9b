/**
 * THE free-port helper of the tests: a TCP port on 127.0.0.1 that nothing listens on (bound,
 * then released), for servers and child processes started by a test.
 *
 * @module
 */

/** A port nothing listens on (bound, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
