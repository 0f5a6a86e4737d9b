/**
 * Replication fuzz (issue 8): seeded random and mutated CityHall Sync frames against a leader
 * in a child process (`cityhall leader` with a token), and against a real replica (a child
 * process) from a fake leader. Each case must be answered (a frame) or the connection closed
 * within 1 s of its last byte; the process's RSS must stay under its start + `RSS_GROWTH_MAX`;
 * a well-behaved RESP client (PingProbe) keeps answering, and its p99 is reported and loosely
 * bounded. Slow trickles run beside the cases: the leader must close them by its absolute
 * handshake deadline.
 *
 * CITYHALL_SEED replays a run; `deno task fuzz` (CITYHALL_FUZZ_SCALE) runs many more cases.
 */

import { assert } from "@std/assert";
import {
  encodeData,
  encodeFetch,
  encodeFileFetch,
  encodeFrame,
  encodeSeq,
  encodeSnapshotBegin,
  encodeWelcome,
  FRAME_ACK,
  FRAME_DATA,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_FILE_CHUNK,
  FRAME_FILE_FETCH,
  FRAME_HEARTBEAT,
  FRAME_HELLO,
  FRAME_SNAPSHOT_BEGIN,
  FRAME_SNAPSHOT_REQUEST,
  FRAME_WELCOME,
} from "../../src/replication/frame.ts";
import {
  FRAME_HEADER_BYTES,
  FRAME_WIRE_BODY_BYTES_MAX,
  HANDSHAKE_TIMEOUT_MS,
} from "../../src/limits.ts";
import { concatChunks } from "../../src/server/resp_writer.ts";
import { KIND_PUT } from "../../src/util/entry.ts";
import { encodeBatch, encodeRecord, WAL_RECORD_TYPE_BATCH } from "../../src/wal/mod.ts";
import { fuzzCases, PingProbe, rssBytes, StallClock, withDeadline } from "../_helpers/fuzz.ts";
import { Rng, seedFromEnv } from "../_helpers/random.ts";
import { removeDir } from "./_helpers.ts";
import {
  connect,
  fakeLeader,
  helloBody,
  rawFrame,
  skipFrame,
  startLeaderChild,
  WEDGE_PACKET,
  writeAll,
} from "./_raw.ts";
import { spawnScript } from "../_helpers/child.ts";

const TOKEN = "fuzz-token";
const MiB = 1024 * 1024;
/** The stated bound: a process under fuzz grows by less than this over its starting RSS. */
const RSS_GROWTH_MAX = 64 * MiB;
/**
 * Loose bound on the probe's p99, widened by the longest stall of this process (the machine is
 * shared, load ~15 on two cores; this catches a loop wedged for seconds).
 */
const PROBE_P99_MS_MAX = 2000;
/** Per case: answered or closed within this after the last byte. */
const ANSWER_MS = 1000;
/** Declared lengths up to this are made true by padding or trimming the body. */
const COMPLETE_BYTES_MAX = 8192;
/** A trickle must be closed by the leader's absolute handshake deadline, plus slack. */
const TRICKLE_MS_MAX = HANDSHAKE_TIMEOUT_MS + 3000;
/** Lengths from here are over every frame limit on either side (refused from the header). */
const HUGE = FRAME_WIRE_BODY_BYTES_MAX + 1;

// ---------------------------------------------------------------- case building

/** Flips, overwrites, inserts or drops bytes of `bytes` (1–4 edits). */
function mutate(rng: Rng, bytes: Uint8Array): Uint8Array {
  let out: Uint8Array = bytes.slice();
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(Math.max(1, out.length));
    const op = rng.int(4);
    if (op === 0 && out.length > 0) out[at] = out[at]! ^ (1 << rng.int(8));
    else if (op === 1 && out.length > 0) out[at] = rng.int(256);
    else if (op === 2) {
      out = concat(out.subarray(0, at), rng.bytes(1 + rng.int(8)), out.subarray(at));
    } else {out = concat(
        out.subarray(0, at),
        out.subarray(Math.min(out.length, at + 1 + rng.int(8))),
      );}
  }
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => concatChunks(parts);

/**
 * A frame built from (possibly mutated) parts, made complete so that the peer has all it was
 * told to wait for: a declared length up to `COMPLETE_BYTES_MAX` is matched by padding or
 * trimming the body; a larger one is sent as a bare header (refused from the header).
 */
function hostileFrame(
  rng: Rng,
  type: number,
  body: Uint8Array,
  mode: "mutate-body" | "mutate-all" | "bad-crc" | "snappy" | "huge" | "clean",
): Uint8Array {
  if (mode === "huge") {
    return rawFrame(type, new Uint8Array(0), {
      length: HUGE + rng.int(0xffffffff - HUGE),
    });
  }
  if (mode === "snappy") {
    const hostile = rng.chance(0.3) ? WEDGE_PACKET.subarray(FRAME_HEADER_BYTES) : mutate(rng, body);
    return rawFrame(type, hostile, { flags: 1 });
  }
  if (mode === "bad-crc") return rawFrame(type, body, { crc: rng.int(0x100000000) });
  if (mode === "mutate-body") return rawFrame(type, mutate(rng, body));
  if (mode === "clean") return rawFrame(type, body);
  const bytes = mutate(rng, rawFrame(type, body));
  if (bytes.length < FRAME_HEADER_BYTES) {
    return concat(bytes, new Uint8Array(FRAME_HEADER_BYTES - bytes.length));
  }
  const declared = new DataView(bytes.buffer).getUint32(4, true);
  if (declared > COMPLETE_BYTES_MAX) {
    // Between this and a limit the peer rightly waits for the body: make it a huge length.
    const header = bytes.slice(0, FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(4, HUGE + rng.int(0xffffffff - HUGE), true);
    return header;
  }
  const want = FRAME_HEADER_BYTES + declared;
  return bytes.length >= want
    ? bytes.slice(0, want)
    : concat(bytes, new Uint8Array(want - bytes.length));
}

const MODES = ["mutate-body", "mutate-all", "bad-crc", "snappy", "huge", "clean"] as const;

/** What one leader case sends, and how many frames answer it at least. */
interface LeaderCase {
  kind: string;
  bytes: Uint8Array;
  /** Frames expected before the case counts as answered (a close always counts). */
  frames: number;
}

function leaderCase(rng: Rng): LeaderCase {
  const hello = helloBody({ id: rng.int(256), nextSeq: 1 + rng.int(40), token: TOKEN });
  const r = rng.int(10);
  if (r === 0) {
    return { kind: "garbage", bytes: rng.bytes(FRAME_HEADER_BYTES + rng.int(64)), frames: 1 };
  }
  if (r <= 4) {
    const mode = rng.pick(MODES);
    const type = rng.chance(0.8) ? FRAME_HELLO : 1 + rng.int(12);
    return {
      kind: `pre-auth ${mode} type ${type}`,
      bytes: hostileFrame(rng, type, hello, mode),
      frames: 1,
    };
  }
  // Authenticated, then a hostile request, then a FETCH that must be answered at once.
  const [type, body] = rng.pick<[number, Uint8Array]>([
    [
      FRAME_FETCH,
      encodeFetch({ fromSeq: 1 + rng.int(60), maxBytes: rng.int(1 << 20), waitMs: rng.int(2000) }),
    ],
    [FRAME_ACK, encodeSeq(rng.int(60))],
    [FRAME_HEARTBEAT, encodeSeq(rng.int(60), Date.now())],
    [FRAME_SNAPSHOT_REQUEST, new Uint8Array(0)],
    [
      FRAME_FILE_FETCH,
      encodeFileFetch({
        fileNumber: rng.int(20),
        offset: rng.int(1000),
        maxBytes: rng.int(1 << 20),
      }),
    ],
    [FRAME_ERROR, new Uint8Array([5, 0, 0x78])],
    [
      FRAME_DATA,
      encodeData({
        firstSeq: 1,
        lastSeq: 0,
        durableSeq: 0,
        segmentId: 0,
        recordCount: 0,
        records: new Uint8Array(0),
      }),
    ],
  ]);
  const mode = rng.pick(MODES);
  const probe = rawFrame(FRAME_FETCH, encodeFetch({ fromSeq: 1, maxBytes: 4096, waitMs: 0 }));
  return {
    kind: `post-auth ${mode} type ${type}`,
    bytes: concat(rawFrame(FRAME_HELLO, hello), hostileFrame(rng, type, body, mode), probe),
    frames: 2,
  };
}

/** Reads until `frames` whole frames arrived or the peer closed, within `ms`. */
async function awaitAnswer(
  conn: Deno.Conn,
  frames: number,
  ms: number,
): Promise<{ answered: boolean; closed: boolean; frames: number }> {
  const buf = new Uint8Array(64 * 1024);
  let pending: Uint8Array = new Uint8Array(0);
  let count = 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let n: number | null;
    try {
      n = await withDeadline(conn.read(buf), Math.max(1, deadline - Date.now()), "answer");
    } catch (err) {
      if (String(err).includes("no answer within")) break;
      return { answered: true, closed: true, frames: count }; // reset
    }
    if (n === null) return { answered: true, closed: true, frames: count };
    pending = concat(pending, buf.subarray(0, n));
    while (pending.length >= FRAME_HEADER_BYTES) {
      const length = new DataView(pending.buffer, pending.byteOffset).getUint32(4, true);
      if (pending.length < FRAME_HEADER_BYTES + length) break;
      count++;
      pending = pending.slice(FRAME_HEADER_BYTES + length);
    }
    if (count >= frames) return { answered: true, closed: false, frames: count };
  }
  return { answered: false, closed: false, frames: count };
}

/**
 * `awaitAnswer` within `ms`, plus as long as this process itself was stalled meanwhile: a stall
 * of the whole loaded machine is not the peer's.
 */
async function answerWithin(
  conn: Deno.Conn,
  frames: number,
  ms: number,
  stalls: StallClock,
): Promise<{ answered: boolean; closed: boolean; frames: number }> {
  const stalledBefore = stalls.stalledMs;
  const first = await awaitAnswer(conn, frames, ms);
  const stalled = stalls.stalledMs - stalledBefore;
  if (first.answered || stalled <= 0) return first;
  const more = await awaitAnswer(conn, frames - first.frames, stalled);
  return { ...more, frames: first.frames + more.frames };
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed by the peer.
  }
}

// ---------------------------------------------------------------- leader side

Deno.test("fuzz: a leader process answers or closes within 1 s per hostile frame, keeps its RSS and RESP latency", async () => {
  const seed = seedFromEnv();
  console.log(`fuzz replication leader seed=${seed} (CITYHALL_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const dir = await Deno.makeTempDir({ prefix: "cityhall-fuzz-leader-" });
  const leader = await startLeaderChild(dir, { token: TOKEN });
  const resp = leader.port("resp");
  const port = leader.port("replication");
  let probe: PingProbe | undefined;
  const stalls = new StallClock();
  const trickles: Promise<number>[] = [];
  try {
    // A few writes so that FETCH and SNAPSHOT_REQUEST have something to serve.
    const c = await connect(resp);
    const enc = new TextEncoder();
    await writeAll(c, enc.encode(`AUTH ${TOKEN}\r\n`));
    for (let i = 0; i < 40; i++) {
      await writeAll(c, enc.encode(`SET fuzz.${i} ${"v".repeat(i * 10)}\r\n`));
    }
    await awaitAnswer(c, 0, 500);
    close(c);
    await new Promise((r) => setTimeout(r, 300));
    const rssStart = rssBytes(leader.pid);
    let rssMax = rssStart;
    probe = PingProbe.start(resp, { token: TOKEN, intervalMs: 10 });
    // Slow trickles beside the cases: one byte every 250 ms of a HELLO (or of a long body).
    for (let t = 0; t < 4; t++) {
      trickles.push((async () => {
        const started = Date.now();
        const conn = await connect(port);
        const bytes = t % 2 === 0
          ? rawFrame(FRAME_HELLO, helloBody({ token: TOKEN }))
          : rawFrame(FRAME_HELLO, new Uint8Array(4000));
        // Bounded: past the deadline (+ slack) the trickle stops and the assertion says so.
        for (let i = 0; i < bytes.length && Date.now() - started < TRICKLE_MS_MAX; i++) {
          if (!(await writeAll(conn, bytes.subarray(i, i + 1)))) break;
          const answer = await awaitAnswer(conn, 1, 250);
          if (answer.closed) break;
        }
        close(conn);
        return Date.now() - started;
      })());
    }
    const cases = fuzzCases(300);
    const outcomes = new Map<string, number>();
    const slowest = { ms: 0, kind: "" };
    for (let i = 0; i < cases; i++) {
      const kase = leaderCase(rng);
      const conn = await connect(port);
      const ok = await writeAll(conn, kase.bytes);
      const t0 = performance.now();
      const answer = ok
        ? await answerWithin(conn, kase.frames, ANSWER_MS, stalls)
        : { answered: true, closed: true, frames: 0 };
      const ms = performance.now() - t0;
      close(conn);
      assert(
        answer.answered,
        `seed=${seed} case ${i} (${kase.kind}): no answer and no close within ${ANSWER_MS} ms`,
      );
      if (ms > slowest.ms) Object.assign(slowest, { ms, kind: kase.kind });
      const outcome = answer.closed ? "closed" : "answered";
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (i % 10 === 0) rssMax = Math.max(rssMax, rssBytes(leader.pid));
    }
    const trickleMs = await Promise.all(trickles);
    rssMax = Math.max(rssMax, rssBytes(leader.pid));
    const report = await probe.stop();
    probe = undefined;
    console.log(
      `fuzz replication leader: ${cases} cases (${
        [...outcomes].map(([k, v]) => `${k} ${v}`).join(", ")
      }); ` +
        `slowest answer ${slowest.ms.toFixed(1)} ms (${slowest.kind}); trickles closed after ${
          trickleMs.join(", ")
        } ms; ` +
        `RSS ${(rssStart / MiB).toFixed(1)} → max ${(rssMax / MiB).toFixed(1)} MiB; ` +
        `probe ${report.count} PINGs, p50 ${report.p50Ms.toFixed(2)} ms, p99 ${
          report.p99Ms.toFixed(2)
        } ms, max ${
          report.maxMs.toFixed(2)
        } ms, failures ${report.failures}; this process stalled ${
          stalls.stalledMs.toFixed(0)
        } ms, ${stalls.maxStallMs.toFixed(0)} ms at most`,
    );
    for (const ms of trickleMs) {
      assert(ms < TRICKLE_MS_MAX, `a trickle held its handshake for ${ms} ms`);
    }
    assert(
      rssMax - rssStart < RSS_GROWTH_MAX,
      `RSS grew by ${((rssMax - rssStart) / MiB).toFixed(1)} MiB`,
    );
    assert(report.failures === 0, `${report.failures} PINGs failed`);
    const p99Max = PROBE_P99_MS_MAX + stalls.maxStallMs;
    assert(report.p99Ms < p99Max, `probe p99 ${report.p99Ms} ms (bound ${p99Max} ms)`);
  } finally {
    stalls.stop();
    await probe?.stop();
    await Promise.allSettled(trickles);
    await leader.stop();
    await removeDir(dir);
    await Deno.remove(`${dir}.token`).catch(() => {});
  }
});

// ---------------------------------------------------------------- replica side

const LEADER_ID = new Uint8Array(16).fill(0x5a);

function welcomeBody(rng: Rng): Uint8Array {
  return encodeWelcome({
    leaderId: LEADER_ID,
    durableSeq: 2 + rng.int(5),
    firstSeq: 1,
    heartbeatMs: 200,
    idleTimeoutMs: 3000,
    segments: [{ id: 1, firstSeq: 1, lastSeq: 2, sizeBytes: 100 }],
  });
}

/** A DATA body with two real WAL records from `fromSeq`. */
function dataBody(rng: Rng, fromSeq: number): Uint8Array {
  const records = [0, 1].map((i) =>
    encodeRecord(
      fromSeq + i,
      WAL_RECORD_TYPE_BATCH,
      encodeBatch([{
        kind: KIND_PUT,
        key: new TextEncoder().encode(`k${fromSeq + i}`),
        value: rng.bytes(40 + rng.int(200)),
      }]),
    )
  );
  return encodeData({
    firstSeq: fromSeq,
    lastSeq: fromSeq + 1,
    durableSeq: fromSeq + 1,
    segmentId: 1,
    recordCount: 2,
    records: concat(...records),
  });
}

/** What the fake leader sends after the replica's HELLO (and, post-WELCOME, its first request). */
function replicaCase(rng: Rng): { kind: string; welcome: boolean; bytes: Uint8Array } {
  const mode = rng.pick(MODES);
  if (rng.chance(0.35)) {
    const type = rng.chance(0.8)
      ? FRAME_WELCOME
      : rng.pick([FRAME_ERROR, FRAME_DATA, FRAME_HEARTBEAT, 1 + rng.int(12)]);
    return {
      kind: `pre-welcome ${mode} type ${type}`,
      welcome: false,
      bytes: hostileFrame(rng, type, welcomeBody(rng), mode),
    };
  }
  const [type, body] = rng.pick<[number, Uint8Array]>([
    [FRAME_DATA, dataBody(rng, 1 + rng.int(3))],
    [FRAME_DATA, dataBody(rng, 1 + rng.int(3))],
    [FRAME_HEARTBEAT, encodeSeq(rng.int(10), Date.now())],
    [FRAME_SNAPSHOT_BEGIN, encodeSnapshotBegin({ seq: 5, manifest: rng.bytes(40), files: [] })],
    [FRAME_FILE_CHUNK, concat(new Uint8Array(16), rng.bytes(100))],
    [FRAME_ERROR, new Uint8Array([rng.int(10), 0, 0x61])],
  ]);
  // Compressed DATA as a leader sends it, then mutated behind a correct CRC: the Snappy
  // validator (not the checksum) must catch it.
  if (type === FRAME_DATA && rng.chance(0.4)) {
    const packed = encodeFrame(FRAME_DATA, body, true);
    const flags = packed[1]!;
    const mutated = mutate(rng, packed.subarray(FRAME_HEADER_BYTES));
    return {
      kind: `post-welcome snappy-mutated type ${type}`,
      welcome: true,
      bytes: rawFrame(type, mutated, { flags }),
    };
  }
  return {
    kind: `post-welcome ${mode} type ${type}`,
    welcome: true,
    bytes: hostileFrame(rng, type, body, mode),
  };
}

Deno.test("fuzz: a replica process facing a hostile leader answers or closes within 1 s, keeps its RSS and RESP latency", async () => {
  const seed = seedFromEnv();
  console.log(`fuzz replication replica seed=${seed} (CITYHALL_SEED=${seed} to replay)`);
  const rng = new Rng(seed ^ 0x5eed);
  const dir = await Deno.makeTempDir({ prefix: "cityhall-fuzz-replica-" });
  const cases = fuzzCases(150);
  const results: { kind: string; answered: boolean; closed: boolean; ms: number }[] = [];
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => done = r);
  let first = true;
  const stalls = new StallClock();
  const fake = fakeLeader(async (conn) => {
    if (results.length >= cases) return;
    if (!(await skipFrame(conn))) return; // HELLO
    // The first connection gets a clean WELCOME: the replica records this leader's id.
    const kase = first
      ? {
        kind: "clean welcome",
        welcome: true,
        bytes: encodeFrame(FRAME_HEARTBEAT, encodeSeq(0, 0)),
      }
      : replicaCase(rng);
    first = false;
    if (kase.welcome) {
      await writeAll(conn, encodeFrame(FRAME_WELCOME, welcomeBody(rng)));
      if (!(await skipFrame(conn))) return; // FETCH or SNAPSHOT_REQUEST
    }
    const ok = await writeAll(conn, kase.bytes);
    const t0 = performance.now();
    const answer = ok
      ? await answerWithin(conn, 1, ANSWER_MS, stalls)
      : { answered: true, closed: true, frames: 0 };
    results.push({
      kind: kase.kind,
      answered: answer.answered,
      closed: answer.closed,
      ms: performance.now() - t0,
    });
    if (results.length >= cases) done();
  });
  const child = spawnScript(
    new URL("./_fuzz_replica_child.ts", import.meta.url).pathname,
    [dir, String(fake.port)],
    { stderr: "null" },
  );
  let probe: PingProbe | undefined;
  try {
    const ready = await child.waitForLine(/^ready (\d+)/, { stream: "stdout" }).catch(() =>
      undefined
    );
    const respPort = Number(ready?.match?.[1]);
    assert(respPort > 0, `the replica child did not start: ${child.stdout}`);
    const rssStart = rssBytes(child.pid);
    let rssMax = rssStart;
    probe = PingProbe.start(respPort, { intervalMs: 10 });
    const sampler = setInterval(() => {
      try {
        rssMax = Math.max(rssMax, rssBytes(child.pid));
      } catch {
        // Exited: the assertions below say so.
      }
    }, 50);
    try {
      await withDeadline(finished, 60_000 + cases * 200, "the fuzz cases");
    } finally {
      clearInterval(sampler);
    }
    const report = await probe.stop();
    probe = undefined;
    const failed = results.filter((r) => !r.answered);
    const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a));
    console.log(
      `fuzz replication replica: ${results.length} cases (closed ${
        results.filter((r) => r.closed).length
      }, answered ${results.filter((r) => r.answered && !r.closed).length}); slowest ${
        slowest.ms.toFixed(1)
      } ms (${slowest.kind}); RSS ${(rssStart / MiB).toFixed(1)} → max ${
        (rssMax / MiB).toFixed(1)
      } MiB; probe ${report.count} PINGs, p50 ${report.p50Ms.toFixed(2)} ms, p99 ${
        report.p99Ms.toFixed(2)
      } ms, max ${report.maxMs.toFixed(2)} ms, failures ${report.failures}; this process stalled ${
        stalls.stalledMs.toFixed(0)
      } ms, ${stalls.maxStallMs.toFixed(0)} ms at most`,
    );
    assert(
      failed.length === 0,
      `seed=${seed}: no answer within ${ANSWER_MS} ms: ${failed.map((f) => f.kind).join("; ")}`,
    );
    assert(
      rssMax - rssStart < RSS_GROWTH_MAX,
      `RSS grew by ${((rssMax - rssStart) / MiB).toFixed(1)} MiB`,
    );
    assert(report.failures === 0, `${report.failures} PINGs failed`);
    const p99Max = PROBE_P99_MS_MAX + stalls.maxStallMs;
    assert(report.p99Ms < p99Max, `probe p99 ${report.p99Ms} ms (bound ${p99Max} ms)`);
  } finally {
    stalls.stop();
    await probe?.stop();
    await child.kill("SIGKILL");
    await fake.close();
    await removeDir(dir);
  }
});
