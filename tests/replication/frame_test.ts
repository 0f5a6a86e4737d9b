/**
 * The replication message codec (`src/replication/frame.ts`, ARCHITECTURE.md § "Frame
 * (12-byte header + body, integers little-endian)"): every message round-trips, the frame
 * header is laid out as documented, and every truncation or bad length of a body is a
 * `ProtocolError`, never a wrong value.
 */

import { assertEquals, assertThrows } from "@std/assert";
import { ProtocolError } from "../../src/errors.ts";
import { ERROR_MESSAGE_BYTES_MAX, FRAME_HEADER_BYTES } from "../../src/limits.ts";
import * as f from "../../src/replication/frame.ts";
import { crc32c, maskCrc } from "../../src/util/crc32c.ts";
import { Rng } from "../_helpers/random.ts";

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
