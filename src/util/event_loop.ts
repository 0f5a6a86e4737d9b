/**
 * Giving the event loop a turn from long-running engine work (table writing, checkpoints).
 *
 * @module
 */

// setImmediate: Deno's global, not node:timers (which loads the Node layer at start: idle RSS).

/** Resolves on the next turn of the event loop (after pending I/O callbacks). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
