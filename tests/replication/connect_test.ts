/**
 * A leader (or hub) that answers no TCP handshake at all, as behind a route that drops packets,
 * must not hold a replica or an edge for the operating system's ~2 minute connect timeout: the
 * attempt fails after `connectTimeoutMs` and the link goes on retrying, and `close()` ends an
 * attempt in progress at once (src/util/net.ts `dial`).
 *
 * The silent peer is a real listener with a backlog of 0 whose one queue slot the test fills:
 * Linux then drops further SYNs, so a connect neither succeeds nor fails. Python's socket module
 * sets the backlog; Deno's listener does not expose it.
 */

import { assert } from "../../src/util/assert.ts";
import { spawnChild } from "../_helpers/child.ts";
import { dial } from "../../src/util/net.ts";
import { eventually, removeDir, startTestReplica } from "./_helpers.ts";

const SILENT_LISTENER = [
  "import socket, time",
  "s = socket.socket()",
  "s.bind(('127.0.0.1', 0))",
  "s.listen(0)",
  "print(s.getsockname()[1], flush=True)",
  "time.sleep(3600)",
].join("\n");

/** A port that completes no more TCP handshakes, until `close`. */
async function silentPort(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawnChild("/usr/bin/python3", ["-c", SILENT_LISTENER], {
    killAfterMs: 600_000,
  });
  const { line } = await child.waitForLine(/^\d+$/, { stream: "stdout" });
  const port = Number(line.trim());
  // The one connection the queue holds; the listener never accepts it.
  const filler = await Deno.connect({ hostname: "127.0.0.1", port });
  // Prove the port is silent now: a connect gets no answer.
  const probe = await Promise.race([
    Deno.connect({ hostname: "127.0.0.1", port }).then((c) => (c.close(), "connected")),
    new Promise((r) => setTimeout(() => r("silent"), 300)),
  ]);
  assert(probe === "silent", `the listener's queue did not fill: ${probe}`);
  return {
    port,
    async close() {
      filler.close();
      await child.kill();
    },
  };
}

Deno.test("dial: a peer that answers no handshake fails after the timeout, and an abort ends it at once", async () => {
  const silent = await silentPort();
  try {
    const t0 = Date.now();
    const err = await dial({ hostname: "127.0.0.1", port: silent.port, timeoutMs: 300 })
      .then(() => undefined, (e: Error) => e);
    assert(err?.message === "no answer within 300 ms", `got ${err}`);
    assert(Date.now() - t0 < 30_000, "the deadline did not end the attempt");

    const controller = new AbortController();
    const pending = dial({
      hostname: "127.0.0.1",
      port: silent.port,
      timeoutMs: 120_000,
      signal: controller.signal,
    }).then(() => undefined, (e: Error) => e);
    setTimeout(() => controller.abort(), 50);
    const aborted = await pending;
    assert(aborted?.message === "connection attempt aborted", `got ${aborted}`);
  } finally {
    await silent.close();
  }
});

Deno.test("Replication: a leader that answers no handshake: the replica retries, and closes at once", async () => {
  const silent = await silentPort();
  const replica = await startTestReplica(silent.port, { connectTimeoutMs: 200 });
  try {
    await eventually(
      () => replica.log.lines.some((l) => l.includes("no answer within 200 ms")),
      "the replica's connect attempt failed with the deadline",
    );
    await eventually(() => replica.replica.retries >= 2, "the replica retried");
    // Closing during an attempt that would wait two minutes returns at once.
    const replica2 = await startTestReplica(silent.port, { connectTimeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await replica2.close();
    assert(Date.now() - t0 < 30_000, `close took ${Date.now() - t0} ms`);
    await removeDir(replica2.dir);
  } finally {
    await replica.close();
    await removeDir(replica.dir);
    await silent.close();
  }
});
