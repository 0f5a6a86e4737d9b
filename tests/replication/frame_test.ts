/**
 * The replication message codec (`src/replication/frame.ts`, ARCHITECTURE.md § "Frame
 * (12-byte header + body, integers little-endian)"): every message round-trips, the frame
 * header is laid out as documented, and every truncation or bad length of a body is a
 * `ProtocolError`, never a wrong value. The worked example of ARCHITECTURE.md § "Replication"
 * is checked byte for byte, and read back through a `FrameReader` on a real socket, which
 * rejects a flipped bit (checksum) and a cut frame.
 */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { ProtocolError } from "../../src/errors.ts";
import { ERROR_MESSAGE_BYTES_MAX, FRAME_HEADER_BYTES } from "../../src/limits.ts";
import * as f from "../../src/replication/frame.ts";
import {
  type FramePolicy,
  FrameReader,
  LEADER_BEFORE_HELLO,
  REPLICA_BEFORE_WELCOME,
  REPLICA_FROM_LEADER,
} from "../../src/replication/frame_reader.ts";
import { crc32c, maskCrc } from "../../src/util/crc32c.ts";
import { Rng } from "../_helpers/random.ts";
import { hexBytes } from "../_helpers/hex.ts";

const rng = new Rng(20261130);
const id = () => rng.bytes(f.ID_BYTES);

Deno.test("encodeFrame lays out type, flags, reserved, length and the masked CRC of header and body", () => {
  const body = new TextEncoder().encode("hello");
  const frame = f.encodeFrame(f.FRAME_DATA, body);
  assertEquals(frame.length, FRAME_HEADER_BYTES + body.length);
  const view = new DataView(frame.buffer);
  assertEquals([frame[0], frame[1], view.getUint16(2, true)], [f.FRAME_DATA, 0, 0]);
  assertEquals(view.getUint32(4, true), body.length);
  const covered = new Uint8Array([...frame.subarray(0, 8), ...body]);
  assertEquals(view.getUint32(8, true), maskCrc(crc32c(covered)));
  // A large, repetitive body is sent compressed, flagged; a small one never is.
  const big = new Uint8Array(4096).fill(7);
  const packed = f.encodeFrame(f.FRAME_DATA, big, true);
  assertEquals(packed[1], f.FLAG_SNAPPY);
  assertEquals(packed.length < big.length, true);
  assertEquals(f.encodeFrame(f.FRAME_DATA, body, true)[1], 0);
  assertEquals(f.frameTypeName(f.FRAME_HELLO), "HELLO");
  assertEquals(f.frameTypeName(99), "unknown (99)");
});

Deno.test("every message body round-trips", () => {
  const hello: f.Hello = {
    version: f.SYNC_PROTOCOL_VERSION,
    replicaId: id(),
    expectedLeaderId: new Uint8Array(f.ID_BYTES),
    nextSeq: 2 ** 53 - 1,
    token: new TextEncoder().encode("s3cret"),
  };
  assertEquals(f.decodeHello(f.encodeHello(hello)), hello);
  const welcome: f.Welcome = {
    leaderId: id(),
    durableSeq: 1234,
    firstSeq: 1000,
    heartbeatMs: 500,
    idleTimeoutMs: 30_000,
    segments: [{ id: 3, firstSeq: 1000, lastSeq: 1234, sizeBytes: 1 << 20 }],
  };
  assertEquals(f.decodeWelcome(f.encodeWelcome(welcome)), welcome);
  assertEquals(f.decodeError(f.encodeError(f.ERROR_AUTH, "Bad token")), {
    code: f.ERROR_AUTH,
    message: "Bad token",
  });
  const fetch: f.Fetch = { fromSeq: 77, maxBytes: 1 << 20, waitMs: 250 };
  assertEquals(f.decodeFetch(f.encodeFetch(fetch)), fetch);
  const records = rng.bytes(100);
  const data: f.Data = {
    firstSeq: 5,
    lastSeq: 9,
    durableSeq: 12,
    segmentId: 2,
    recordCount: 3,
    records,
  };
  assertEquals(f.decodeData(f.encodeData(data)), data);
  assertEquals(f.decodeSeq(f.encodeSeq(42), "ACK"), 42);
  assertEquals(f.decodeSeq(f.encodeSeq(43, Date.now()), "HEARTBEAT"), 43);
  const begin: f.SnapshotBegin = {
    seq: 900,
    manifest: rng.bytes(64),
    files: [{ fileNumber: 7, sizeBytes: 4096, crc: 0xdeadbeef }],
  };
  assertEquals(f.decodeSnapshotBegin(f.encodeSnapshotBegin(begin)), begin);
  const range: f.FileRange = { fileNumber: 7, offset: 8192, maxBytes: 65536 };
  assertEquals(f.decodeFileFetch(f.encodeFileFetch(range)), range);
  const chunk = rng.bytes(33);
  assertEquals(f.decodeFileChunk(f.encodeFileChunk(7, 100, chunk)), {
    fileNumber: 7,
    offset: 100,
    data: chunk,
  });
  const someId = id();
  assertEquals(f.parseHexId(f.hexId(someId)), someId);
  assertEquals(f.parseHexId("not hex"), undefined);
});

Deno.test("every truncation of a fixed-layout body is a ProtocolError", () => {
  const bodies: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    [
      "HELLO",
      f.encodeHello({
        version: 1,
        replicaId: id(),
        expectedLeaderId: id(),
        nextSeq: 1,
        token: new Uint8Array(3),
      }),
      f.decodeHello,
    ],
    [
      "WELCOME",
      f.encodeWelcome({
        leaderId: id(),
        durableSeq: 1,
        firstSeq: 1,
        heartbeatMs: 1,
        idleTimeoutMs: 1,
        segments: [{ id: 1, firstSeq: 1, lastSeq: 1, sizeBytes: 1 }],
      }),
      f.decodeWelcome,
    ],
    ["FETCH", f.encodeFetch({ fromSeq: 1, maxBytes: 1, waitMs: 1 }), f.decodeFetch],
    [
      "SNAPSHOT_BEGIN",
      f.encodeSnapshotBegin({
        seq: 1,
        manifest: new Uint8Array(8),
        files: [{ fileNumber: 1, sizeBytes: 1, crc: 1 }],
      }),
      f.decodeSnapshotBegin,
    ],
  ];
  for (const [name, body, decode] of bodies) {
    for (let n = 0; n < body.length; n++) {
      assertThrows(() => decode(body.subarray(0, n)), ProtocolError, undefined, `${name} ${n}`);
    }
    // One byte too many is refused as well (lengths must add up exactly).
    const longer = new Uint8Array(body.length + 1);
    longer.set(body);
    assertThrows(() => decode(longer), ProtocolError, undefined, `${name} + 1`);
  }
  for (
    const [name, decode] of [["DATA", f.decodeData], ["FILE_FETCH", f.decodeFileFetch]] as const
  ) {
    assertThrows(() => decode(new Uint8Array(3)), ProtocolError, undefined, name);
  }
  // A sequence beyond 2^53 - 1 cannot be represented exactly: refused, not rounded.
  const fetch = f.encodeFetch({ fromSeq: 1, maxBytes: 1, waitMs: 1 });
  new DataView(fetch.buffer).setUint32(4, 0x0020_0000, true);
  assertThrows(() => f.decodeFetch(fetch), ProtocolError, "exceeds 2^53 - 1");
});

Deno.test("encodeError cuts a long message at a UTF-8 boundary within ERROR_MESSAGE_BYTES_MAX", () => {
  const message = "é".repeat(ERROR_MESSAGE_BYTES_MAX); // 2 bytes each
  const body = f.encodeError(f.ERROR_INTERNAL, message);
  const decoded = f.decodeError(body);
  assertEquals(body.length <= 2 + ERROR_MESSAGE_BYTES_MAX, true);
  assertEquals(decoded.message, "é".repeat(ERROR_MESSAGE_BYTES_MAX / 2));
});

// ---------------------------------------------------------------- ARCHITECTURE.md § "Worked example"

const ONES = new Uint8Array(f.ID_BYTES).fill(0x11);
const AS = new Uint8Array(f.ID_BYTES).fill(0xaa);
const EXAMPLE = {
  hello: hexBytes(`01 00 0000 38000000 f3c7be8a  43 48 53 59 4e 43 0d 0a  01 00 00 00
    ${"aa".repeat(16)} ${"00".repeat(16)}  01 00 00 00 00 00 00 00  02 00 70 77`),
  welcome: hexBytes(`02 00 0000 4c000000 2f08923d  ${"11".repeat(16)}
    01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  e8 03 00 00  10 27 00 00  01 00 00 00
    01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00
    38 00 00 00 00 00 00 00`),
  fetch: hexBytes(
    `04 00 0000 10000000 95236592  01 00 00 00 00 00 00 00  00 00 10 00  e8 03 00 00`,
  ),
  data: hexBytes(`05 00 0000 3c000000 25da9782
    01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00
    01 00 00 00 00 00 00 00  01 00 00 00
    07 00 00 00 9c 0b 94 27  01 00 00 00 00 00 00 00 01  01 01 01 6b 00 01 76`),
  ack: hexBytes(`06 00 0000 08000000 95303885  01 00 00 00 00 00 00 00`),
  error: hexBytes(
    `03 00 0000 12000000 cbeb6fb1  02 00 ${
      [...new TextEncoder().encode("Wrong auth token")].map((b) => b.toString(16)).join(" ")
    }`,
  ),
};

Deno.test("the worked example's frames are encoded byte for byte as documented", () => {
  const hello = f.encodeHello({
    version: 1,
    replicaId: AS,
    expectedLeaderId: new Uint8Array(f.ID_BYTES),
    nextSeq: 1,
    token: new TextEncoder().encode("pw"),
  });
  assertEquals(f.encodeFrame(f.FRAME_HELLO, hello), EXAMPLE.hello);
  assertEquals(EXAMPLE.hello.length, 68);
  const welcome = f.encodeWelcome({
    leaderId: ONES,
    durableSeq: 1,
    firstSeq: 1,
    heartbeatMs: 1000,
    idleTimeoutMs: 10_000,
    segments: [{ id: 1, firstSeq: 1, lastSeq: 1, sizeBytes: 56 }],
  });
  assertEquals(f.encodeFrame(f.FRAME_WELCOME, welcome), EXAMPLE.welcome);
  assertEquals(EXAMPLE.welcome.length, 88);
  const fetch = f.encodeFetch({ fromSeq: 1, maxBytes: 1 << 20, waitMs: 1000 });
  assertEquals(f.encodeFrame(f.FRAME_FETCH, fetch), EXAMPLE.fetch);
  const record = EXAMPLE.data.subarray(FRAME_HEADER_BYTES + 36);
  const data = f.encodeData({
    firstSeq: 1,
    lastSeq: 1,
    durableSeq: 1,
    segmentId: 1,
    recordCount: 1,
    records: record,
  });
  // Offered for compression, a body under 64 bytes is still sent as it is.
  assertEquals(f.encodeFrame(f.FRAME_DATA, data, true), EXAMPLE.data);
  assertEquals(EXAMPLE.data.length, 72);
  assertEquals(f.encodeFrame(f.FRAME_ACK, f.encodeSeq(1)), EXAMPLE.ack);
  const error = f.encodeError(f.ERROR_AUTH, "Wrong auth token");
  assertEquals(f.encodeFrame(f.FRAME_ERROR, error), EXAMPLE.error);
  assertEquals(EXAMPLE.error.length, 30);
});

Deno.test("the worked example's bodies decode to the documented values", () => {
  const body = (frame: Uint8Array) => frame.subarray(FRAME_HEADER_BYTES);
  const hello = f.decodeHello(body(EXAMPLE.hello));
  assertEquals([hello.version, hello.replicaId, hello.nextSeq], [1, AS, 1]);
  assertEquals(new TextDecoder().decode(hello.token), "pw");
  const welcome = f.decodeWelcome(body(EXAMPLE.welcome));
  assertEquals(welcome.leaderId, ONES);
  assertEquals(welcome.segments, [{ id: 1, firstSeq: 1, lastSeq: 1, sizeBytes: 56 }]);
  assertEquals(f.decodeFetch(body(EXAMPLE.fetch)), { fromSeq: 1, maxBytes: 1 << 20, waitMs: 1000 });
  const data = f.decodeData(body(EXAMPLE.data));
  assertEquals([data.firstSeq, data.lastSeq, data.segmentId, data.recordCount], [1, 1, 1, 1]);
  assertEquals(data.records.length, 24);
  assertEquals(f.decodeSeq(body(EXAMPLE.ack), "ACK"), 1);
  assertEquals(f.decodeError(body(EXAMPLE.error)), { code: 2, message: "Wrong auth token" });
});

/**
 * The frames `FrameReader` returns from `bytes` sent over a real loopback connection, reading
 * under `policy`, then `after` once a frame was read (as a session moves its reader on).
 */
async function readFrames(
  bytes: Uint8Array,
  policy: FramePolicy,
  after: FramePolicy = policy,
): Promise<f.Frame[]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    const sent = (async () => {
      let at = 0;
      while (at < bytes.length) at += await client.write(bytes.subarray(at));
      client.close();
    })();
    const frames: f.Frame[] = [];
    const reader = new FrameReader(server, policy);
    try {
      for (let frame = await reader.next(); frame; frame = await reader.next()) {
        frames.push(frame);
        reader.policy = after;
      }
    } finally {
      server.close();
      await sent;
    }
    return frames;
  } finally {
    listener.close();
  }
}

Deno.test("FrameReader reads the worked example's leader-side frames from a socket", async () => {
  const stream = new Uint8Array([...EXAMPLE.welcome, ...EXAMPLE.data]);
  const frames = await readFrames(stream, REPLICA_BEFORE_WELCOME, REPLICA_FROM_LEADER);
  assertEquals(frames.map((x) => x.type), [f.FRAME_WELCOME, f.FRAME_DATA]);
  assertEquals(frames[1]!.body, EXAMPLE.data.subarray(FRAME_HEADER_BYTES));
});

Deno.test("FrameReader rejects a flipped bit anywhere in a frame and a cut frame", async () => {
  for (const at of [8, FRAME_HEADER_BYTES, EXAMPLE.hello.length - 1]) {
    const bad = EXAMPLE.hello.slice();
    bad[at]! ^= 0x01;
    await assertRejects(
      () => readFrames(bad, LEADER_BEFORE_HELLO),
      ProtocolError,
      "Cannot read replication frame: checksum mismatch at stream offset 0",
    );
  }
  const typeFlipped = EXAMPLE.hello.slice();
  typeFlipped[1] = 0x80;
  await assertRejects(
    () => readFrames(typeFlipped, LEADER_BEFORE_HELLO),
    ProtocolError,
    "reserved bits are not zero",
  );
  await assertRejects(
    () => readFrames(EXAMPLE.hello.subarray(0, 5), LEADER_BEFORE_HELLO),
    ProtocolError,
    "connection cut inside a frame header at stream offset 0",
  );
  await assertRejects(
    () => readFrames(EXAMPLE.hello.subarray(0, 40), LEADER_BEFORE_HELLO),
    ProtocolError,
    "connection cut inside a frame (56-byte body)",
  );
});
