/**
 * Runs `snappyUncompress` off the test's thread, so that a decoder that loops forever fails
 * the test (the caller's deadline terminates this worker) instead of hanging it.
 *
 * It first posts `{ ready: true }` once loaded, so the test times the decoding and not the loading.
 * Message in: `{ input: Uint8Array, max: number }`; out: `{ ok: true, output }` or
 * `{ ok: false, name, message }`.
 *
 * @module
 */

import { snappyUncompress } from "../../src/util/snappy.ts";

/** The worker's global scope, typed for what this file uses. */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<{ input: Uint8Array; max: number }>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = (e) => {
  try {
    const output = snappyUncompress(e.data.input, e.data.max);
    scope.postMessage({ ok: true, output });
  } catch (err) {
    const error = err as Error;
    scope.postMessage({ ok: false, name: error.constructor.name, message: error.message });
  }
};

scope.postMessage({ ready: true });
