/**
 * Reads a whole table off the test's thread (Snappy decoding included), so that a decoder that
 * loops forever fails the test under its deadline instead of hanging it.
 *
 * It first posts `{ ready: true }` once loaded, so the test times the read and not the loading.
 * Message in: the table's path; out: `{ ok: true }` or the error's class name and message.
 *
 * @module
 */

import { RealFs } from "../../src/fs/mod.ts";
import { BlockCache, Table } from "../../src/sstable/mod.ts";

/** The worker's global scope, typed for what this file uses. */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<string>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = (e) => {
  let table: Table | undefined;
  try {
    table = Table.open(new RealFs(), e.data, { cache: new BlockCache(1 << 20), fileNumber: 1 });
    const it = table.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) it.entry();
    scope.postMessage({ ok: true });
  } catch (err) {
    const error = err as Error;
    scope.postMessage({ ok: false, name: error.constructor.name, message: error.message });
  } finally {
    table?.close();
  }
};

scope.postMessage({ ready: true });
