/**
 * Giving the event loop a turn. Deno completes socket reads and writes eagerly when the kernel
 * has data or buffer room, so a connection that pipelines requests, or streams a body faster
 * than it is parsed, can run request after request in one long chain of promise callbacks and
 * starve every other connection and timer. Work that may loop without real waiting calls
 * `yieldToEventLoop` every so often.
 *
 * @module
 */

/** Requests one connection serves back to back before it lets the event loop run. */
export const REQUESTS_PER_TURN = 16;

/** Body or response bytes handled back to back before the event loop gets a turn. */
export const BYTES_PER_TURN = 1024 * 1024;

/** Resolves on a later event-loop turn (a timer), after I/O callbacks queued meanwhile. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
