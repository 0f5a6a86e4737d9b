/**
 * The accept loop shared by the RESP server and the replication leader.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** Pause after a failed `accept` (e.g. out of file descriptors) before trying again. */
const ACCEPT_RETRY_DELAY_MS = 100;

/**
 * Accepts connections until `isClosing()` turns true or the listener closes, handing each to
 * `onConnection`. A failed `accept` is logged and retried after a short pause; a connection
 * accepted while closing is closed at once.
 */
export async function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  options: {
    isClosing: () => boolean;
    logger: Logger;
    what: string;
    onConnection: (conn: C) => void;
  },
): Promise<void> {
  while (!options.isClosing()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (options.isClosing()) break;
      options.logger("error", `${options.what} accept failed`, { error: String(err) });
      await new Promise((r) => setTimeout(r, ACCEPT_RETRY_DELAY_MS));
      continue;
    }
    if (options.isClosing()) {
      conn.close();
      break;
    }
    options.onConnection(conn);
  }
}
