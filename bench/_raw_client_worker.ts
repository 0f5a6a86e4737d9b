/**
 * The worker behind `WorkerClient` (bench/_ts_tools.ts): a `RawClient` in a thread of its own,
 * timing each command from its first byte sent to the last byte of its reply.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { RawClient } from "./_ts_tools.ts";

let client: RawClient | undefined;

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data as { connect?: number; close?: true; command?: string[] };
  try {
    if (msg.connect !== undefined) {
      client = await RawClient.connect(msg.connect);
      self.postMessage({ ok: true });
    } else if (msg.close) {
      client?.close();
      self.postMessage({ ok: true });
    } else {
      const t0 = performance.now();
      const r = await client!.command(msg.command!);
      self.postMessage({ ok: true, ms: performance.now() - t0, ...r });
    }
  } catch (err) {
    self.postMessage({ ok: false, error: String(err) });
  }
};
