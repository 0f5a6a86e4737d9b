/**
 * Worker of stall_test.ts: the other end of a link, in its own thread, so that it keeps
 * sending while the test's thread is stalled (as a peer process does). Its idle timeout is long:
 * it never drops the link for the stalled end's silence. Messages in, each answered once:
 *
 * - `{ start: "leader" }`: a leader; answers `{ port }`.
 * - `{ start: "replica", port }`: a replica of that leader; answers `{ seq }` once connected and
 *   caught up.
 * - `{ put: key }` (leader): answers `{ seq }`, the write's sequence, once durable.
 * - `{ acked: seq }` (replica): answers `{ acked: seq }` once it acknowledged `seq`.
 * - `{ report: true }`: answers `{ drops, retries }`: its log lines that dropped the link (idle
 *   timeouts) and, for a replica, its reconnects.
 * - `{ close: true }`: closes and removes its data; answers `{ closed: true }`.
 *
 * @module
 */

import {
  eventually,
  removeDir,
  startTestLeader,
  startTestReplica,
  type TestLeader,
  type TestReplica,
} from "./_helpers.ts";

/** The peer's idle timeout: longer than any stall of the test's thread. */
const PEER_IDLE_TIMEOUT_MS = 120_000;

let leader: TestLeader | undefined;
let replica: TestReplica | undefined;

/** The worker's global scope, typed for what this file uses. */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Record<string, unknown>>) => void;
  postMessage(message: unknown): void;
};
const post = (message: unknown) => scope.postMessage(message);

scope.onmessage = async (e) => {
  const m = e.data as {
    start?: string;
    port?: number;
    put?: string;
    acked?: number;
    report?: boolean;
    close?: boolean;
  };
  if (m.start === "leader") {
    leader = await startTestLeader({ heartbeatMs: 100, idleTimeoutMs: PEER_IDLE_TIMEOUT_MS });
    post({ port: leader.port });
  } else if (m.start === "replica") {
    replica = await startTestReplica(m.port!, {
      idleTimeoutMs: PEER_IDLE_TIMEOUT_MS,
      heartbeatMs: 100,
      fetchWaitMs: 100,
    });
    await eventually(() => replica!.replica.state === "connected", "connected", 6000);
    post({ seq: replica.replica.ackedSeq });
  } else if (m.put !== undefined) {
    await leader!.db.put(m.put, "v");
    post({ seq: leader!.db.lastSeq });
  } else if (m.acked !== undefined) {
    await replica!.replica.waitForAck(m.acked);
    post({ acked: m.acked });
  } else if (m.report) {
    const log = (leader ?? replica)!.log.lines;
    post({
      drops: log.filter((l) => l.includes("idle timeout") || l.includes("Leader silent")),
      retries: replica?.replica.retries ?? 0,
    });
  } else if (m.close) {
    const peer = leader ?? replica!;
    await peer.close();
    await removeDir(peer.dir);
    post({ closed: true });
  }
};
