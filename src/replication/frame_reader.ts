/**
 * Reads whole CityHall Sync frames from a connection under a `FramePolicy`: which frame types
 * the current phase of the link accepts, how large each body may be, and whether a body may be
 * Snappy-compressed. ARCHITECTURE.md § "Frame limits by phase" lists the policies.
 *
 * Invariants:
 * - The header is checked (type accepted now, flags, reserved bits, length against this
 *   type's limit in this phase) before a byte of the body is buffered: a peer that has not
 *   authenticated can make the reader hold at most `HELLO_BODY_BYTES_MAX` bytes.
 * - The checksum is checked before the body is used; a compressed body is validated
 *   (`validateSnappy`, via `snappyUncompress`) before it is decompressed, and only a policy
 *   for an authenticated leader accepts one at all.
 * - Any failure is a `ProtocolError` with the stream offset; nothing of the frame is returned.
 *
 * @module
 */

import { CorruptionError, ProtocolError } from "../errors.ts";
import { crc32cExtend, maskCrc } from "../util/crc32c.ts";
import { snappyUncompress } from "../util/snappy.ts";
import { zstdUncompress } from "../util/zstd.ts";
import {
  CONTROL_BODY_BYTES_MAX,
  ERROR_BODY_BYTES_MAX,
  FRAME_BODY_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_WIRE_BODY_BYTES_MAX,
  HELLO_BODY_BYTES_MAX,
  WELCOME_BODY_BYTES_MAX,
} from "../limits.ts";
import {
  FLAG_SNAPPY,
  FLAG_ZSTD,
  type Frame,
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
  frameTypeName,
} from "./frame.ts";

/** What a reader accepts in one phase of a link. */
export interface FramePolicy {
  /** The phase, for error messages: "before HELLO", "from a replica", … */
  readonly phase: string;
  /** Largest body as sent, per accepted frame type; a type missing here is refused. */
  readonly bodyBytesMax: ReadonlyMap<number, number>;
  /** Whether a body may be Snappy-compressed (only from an authenticated leader). */
  readonly snappy: boolean;
  /** Whether a body may be zstd-compressed (only from an authenticated edge, fleet links). */
  readonly zstd?: boolean;
}

/** Leader, before HELLO is accepted: HELLO only, uncompressed, at most `HELLO_BODY_BYTES_MAX`. */
export const LEADER_BEFORE_HELLO: FramePolicy = {
  phase: "before HELLO",
  bodyBytesMax: new Map([[FRAME_HELLO, HELLO_BODY_BYTES_MAX]]),
  snappy: false,
};

/** Leader, from an accepted replica: its small requests; replicas never compress. */
export const LEADER_FROM_REPLICA: FramePolicy = {
  phase: "from a replica",
  bodyBytesMax: new Map([
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
    [FRAME_FETCH, 16],
    [FRAME_ACK, 8],
    [FRAME_HEARTBEAT, 16],
    [FRAME_SNAPSHOT_REQUEST, 0],
    [FRAME_FILE_FETCH, 20],
  ]),
  snappy: false,
};

/** Replica, before WELCOME: WELCOME or ERROR, uncompressed. */
export const REPLICA_BEFORE_WELCOME: FramePolicy = {
  phase: "before WELCOME",
  bodyBytesMax: new Map([
    [FRAME_WELCOME, WELCOME_BODY_BYTES_MAX],
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
  ]),
  snappy: false,
};

/** Replica, after a WELCOME from the leader it follows: records, snapshots, heartbeats. */
export const REPLICA_FROM_LEADER: FramePolicy = {
  phase: "from the leader",
  bodyBytesMax: new Map([
    [FRAME_ERROR, ERROR_BODY_BYTES_MAX],
    [FRAME_DATA, FRAME_WIRE_BODY_BYTES_MAX],
    [FRAME_HEARTBEAT, 16],
    [FRAME_SNAPSHOT_BEGIN, CONTROL_BODY_BYTES_MAX],
    [FRAME_FILE_CHUNK, FRAME_WIRE_BODY_BYTES_MAX],
  ]),
  snappy: true,
};

/** Bytes the reader's buffer starts with; it grows to one frame's size when needed. */
const READ_BUFFER_BYTES_INITIAL = 16 * 1024;
/** A buffer grown past this for one large frame is dropped once that frame is consumed. */
const READ_BUFFER_BYTES_KEPT_MAX = 1024 * 1024;

/**
 * Reads whole frames from a connection. Every check runs before `next` returns a frame; a
 * failure throws `ProtocolError` naming what was wrong and the frame's offset in the stream.
 */
export class FrameReader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(READ_BUFFER_BYTES_INITIAL);
  #start = 0;
  #end = 0;
  /** Stream offset of `#buf[#start]`. */
  #offset = 0;
  /** What the next frame may be; the session moves it on as the link is authenticated. */
  policy: FramePolicy;
  /** Called after every read that returned bytes (idle timeouts watch it). */
  onBytes: (() => void) | undefined;
  /**
   * The bytes of the frame a cut connection interrupted (header checked, body partial), set
   * when `next` fails for that reason: a fleet hub asks the edge for the rest (RESUME).
   */
  cutFrame: Uint8Array | undefined;

  /** Reads from `conn` under `policy`. */
  constructor(conn: Deno.Conn, policy: FramePolicy) {
    this.#conn = conn;
    this.policy = policy;
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.#offset + (this.#end - this.#start);
  }

  async #fill(need: number): Promise<boolean> {
    while (this.#end - this.#start < need) {
      if (this.#buf.length - this.#start < need) {
        const size = Math.max(this.#buf.length, need);
        const grown = new Uint8Array(size);
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = grown;
      } else if (this.#buf.length - this.#end < need - (this.#end - this.#start)) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) return false;
      this.#end += n;
      this.onBytes?.();
    }
    return true;
  }

  /** The next frame, or `undefined` when the peer closed cleanly between frames. */
  async next(): Promise<Frame | undefined> {
    const at = this.#offset;
    const policy = this.policy;
    if (!(await this.#fill(FRAME_HEADER_BYTES))) {
      if (this.#end === this.#start) return undefined;
      throw new ProtocolError(
        `Cannot read replication frame: connection cut inside a frame header at stream offset ${at}`,
      );
    }
    const header = this.#buf.subarray(this.#start, this.#start + FRAME_HEADER_BYTES);
    const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
    const type = header[0]!;
    const flags = header[1]!;
    const length = view.getUint32(4, true);
    const fail = (reason: string): never => {
      throw new ProtocolError(`Cannot read replication frame: ${reason} at stream offset ${at}`);
    };
    const lengthMax = policy.bodyBytesMax.get(type);
    if (lengthMax === undefined) fail(`frame type ${frameTypeName(type)} ${policy.phase}`);
    if ((flags & ~(FLAG_SNAPPY | FLAG_ZSTD)) !== 0 || view.getUint16(2, true) !== 0) {
      fail("reserved bits are not zero");
    }
    if ((flags & FLAG_SNAPPY) !== 0 && (flags & FLAG_ZSTD) !== 0) fail("two compression flags");
    const compressed = (flags & FLAG_SNAPPY) !== 0;
    if (compressed && !policy.snappy) fail(`compressed body ${policy.phase}`);
    const zstd = (flags & FLAG_ZSTD) !== 0;
    if (zstd && policy.zstd !== true) fail(`zstd body ${policy.phase}`);
    if (length > lengthMax!) {
      fail(
        `${frameTypeName(type)} body length ${length} over the limit ${lengthMax} ${policy.phase}`,
      );
    }
    let whole: boolean;
    try {
      whole = await this.#fill(FRAME_HEADER_BYTES + length);
    } catch (err) {
      // A reset, or our own close (an idle timeout) under a pending read, cuts it too.
      this.cutFrame = this.#buf.slice(this.#start, this.#end);
      throw err;
    }
    if (!whole) {
      this.cutFrame = this.#buf.slice(this.#start, this.#end);
      fail(`connection cut inside a frame (${length}-byte body)`);
    }
    const frame = this.#buf.subarray(this.#start, this.#start + FRAME_HEADER_BYTES + length);
    const stored = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES)
      .getUint32(8, true);
    let crc = crc32cExtend(0, frame, 0, 8);
    crc = crc32cExtend(crc, frame, FRAME_HEADER_BYTES, frame.length);
    if (maskCrc(crc) !== stored) fail("checksum mismatch");
    let body: Uint8Array = frame.slice(FRAME_HEADER_BYTES);
    if (compressed) {
      try {
        body = snappyUncompress(body, FRAME_BODY_BYTES_MAX);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        fail(`bad Snappy body (${err.message})`);
      }
    } else if (zstd) {
      try {
        body = zstdUncompress(body, FRAME_BODY_BYTES_MAX);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        fail(`bad zstd body (${err.message})`);
      }
    }
    this.#start += FRAME_HEADER_BYTES + length;
    this.#offset += FRAME_HEADER_BYTES + length;
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      // A large DATA frame grew the buffer: do not keep tens of MiB per idle link.
      if (this.#buf.length > READ_BUFFER_BYTES_KEPT_MAX) {
        this.#buf = new Uint8Array(READ_BUFFER_BYTES_INITIAL);
      }
    }
    return { type, body, wireBytes: FRAME_HEADER_BYTES + length, crc: stored };
  }
}
