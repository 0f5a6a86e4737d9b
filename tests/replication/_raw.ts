/**
 * Raw CityHall Sync for hostile-input tests: hand-built frames (any type, flags, length and
 * CRC), a reader of what the other side answers, `cityhall leader` / `cityhall replica` as
 * child processes (so that a wedged event loop fails the test instead of hanging it), and a
 * fake leader that answers a replica with scripted frames.
 *
 * @module
 */

import { crc32cExtend, maskCrc } from "../../src/util/crc32c.ts";
import {
  decodeError,
  encodeHello,
  type Frame,
  FRAME_ERROR,
  SYNC_PROTOCOL_VERSION,
} from "../../src/replication/frame.ts";
import { FRAME_HEADER_BYTES } from "../../src/limits.ts";
import { withDeadline, withStallDeadline } from "../_helpers/fuzz.ts";
import { spawnCityhall } from "../_helpers/child.ts";

/** The 18 bytes that froze a leader: a HELLO header flagged Snappy, and a hostile body. */
export const WEDGE_PACKET: Uint8Array = rawFrame(
  1,
  new Uint8Array([0x01, 0xfc, 0x00, 0x00, 0x00, 0x80]),
  { flags: 1 },
);

/**
 * A frame with full control: `length` (default the body's) and `crc` (default correct) may
 * lie; `flags` may set any bits.
 */
export function rawFrame(
  type: number,
  body: Uint8Array,
  options: { flags?: number; length?: number; crc?: number; reserved?: number } = {},
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  out[1] = options.flags ?? 0;
  view.setUint16(2, options.reserved ?? 0, true);
  view.setUint32(4, options.length ?? body.length, true);
  out.set(body, FRAME_HEADER_BYTES);
  let crc = crc32cExtend(0, out, 0, 8);
  crc = crc32cExtend(crc, out, FRAME_HEADER_BYTES, out.length);
  view.setUint32(8, options.crc ?? maskCrc(crc), true);
  return out;
}

/** A HELLO body from replica `id` (a byte repeated) wanting `nextSeq`, with `token`. */
export function helloBody(
  options: { id?: number; nextSeq?: number; token?: string; leaderId?: Uint8Array } = {},
): Uint8Array {
  return encodeHello({
    version: SYNC_PROTOCOL_VERSION,
    replicaId: new Uint8Array(16).fill(options.id ?? 0xee),
    expectedLeaderId: options.leaderId ?? new Uint8Array(16),
    nextSeq: options.nextSeq ?? 1,
    token: new TextEncoder().encode(options.token ?? ""),
  });
}

/** Writes everything, ignoring a peer that closed meanwhile. Resolves false when it had. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

/** What a peer sent until it closed (or `ms` passed): frames parsed loosely, and how it ended. */
export async function readUntilClosed(
  conn: Deno.Conn,
  ms: number,
): Promise<{ frames: Frame[]; closed: boolean; errors: { code: number; message: string }[] }> {
  const chunks: number[] = [];
  const buf = new Uint8Array(64 * 1024);
  let closed = false;
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const n = await withDeadline(conn.read(buf), Math.max(1, deadline - Date.now()), "read")
        .catch((err) => {
          if (String(err).includes("no answer")) return -1;
          throw err;
        });
      if (n === -1) break;
      if (n === null) {
        closed = true;
        break;
      }
      for (let i = 0; i < n; i++) chunks.push(buf[i]!);
    }
  } catch {
    closed = true; // reset by peer
  }
  const bytes = new Uint8Array(chunks);
  const frames: Frame[] = [];
  let at = 0;
  while (bytes.length - at >= FRAME_HEADER_BYTES) {
    const length = new DataView(bytes.buffer, at).getUint32(4, true);
    if (bytes.length - at < FRAME_HEADER_BYTES + length) break;
    frames.push({
      type: bytes[at]!,
      body: bytes.slice(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length),
      wireBytes: FRAME_HEADER_BYTES + length,
    });
    at += FRAME_HEADER_BYTES + length;
  }
  const errors = frames.filter((f) => f.type === FRAME_ERROR).map((f) => decodeError(f.body));
  return { frames, closed, errors };
}

/** Connects to 127.0.0.1:`port`. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** A `cityhall` child process and the fields of its "listening" line. */
export interface CityhallChild {
  child: Deno.ChildProcess;
  pid: number;
  /** Fields of the "listening" log line (resp, http, replication, …). */
  fields: Record<string, string>;
  /** Every stderr line so far. */
  lines: string[];
  /** Port of a `host:port` field. */
  port(field: string): number;
  /** SIGTERM (or `signal`), then the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `cityhall args…` and waits for its "listening" line. */
export async function startCityhallChild(args: string[]): Promise<CityhallChild> {
  const proc = spawnCityhall([...args], { stdout: "null", env: { CITYHALL_AUTH_TOKEN: "" } });
  let fields;
  try {
    fields = await proc.waitForListening();
  } catch (err) {
    await proc.kill();
    throw new Error(`no listening line from cityhall ${args[0]}:\n${proc.stderr}`, { cause: err });
  }
  const { port: _, ...found } = fields;
  return {
    child: proc.process,
    pid: proc.pid,
    fields: found,
    // The helper's own array: lines keep arriving while the test runs.
    lines: proc.stderrLines as string[],
    port(field: string) {
      const v = found[field]!;
      return Number(v.slice(v.lastIndexOf(":") + 1));
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      // A wedged process never runs its signal handler: killed after a grace period.
      const r = await proc.kill(signal, 10_000);
      return { code: r.code, signal: r.signal, success: r.success };
    },
  };
}

/** Starts `cityhall leader` on ephemeral ports in `dir`, with `token` when given. */
export async function startLeaderChild(
  dir: string,
  options: { token?: string; extra?: string[] } = {},
): Promise<CityhallChild> {
  const args = [
    "leader",
    "--data-dir",
    dir,
    "--port",
    "0",
    "--http-port",
    "0",
    "--replication-port",
    "0",
    ...(options.extra ?? []),
  ];
  if (options.token !== undefined) {
    const file = `${dir}.token`;
    await Deno.writeTextFile(file, options.token);
    args.push("--auth-token-file", file);
  }
  return await startCityhallChild(args);
}

/** One RESP PING round trip on a fresh connection, within `ms`; with `token`, AUTH first. */
export async function pingWithin(port: number, ms: number, token?: string): Promise<void> {
  await withStallDeadline(
    (async () => {
      const conn = await connect(port);
      try {
        const enc = new TextEncoder();
        const buf = new Uint8Array(256);
        const ask = async (line: string, expect: string) => {
          await conn.write(enc.encode(line));
          let got = "";
          while (!got.includes("\r\n")) {
            const n = await conn.read(buf);
            if (n === null) throw new Error("closed");
            got += new TextDecoder().decode(buf.subarray(0, n));
          }
          if (!got.startsWith(expect)) throw new Error(`unexpected reply ${got}`);
        };
        if (token !== undefined) await ask(`AUTH ${token}\r\n`, "+OK");
        await ask("PING\r\n", "+PONG");
      } finally {
        conn.close();
      }
    })(),
    ms,
    "PING",
  );
}

/** A fake leader: runs `script` on every connection it accepts, until `close()`. */
export function fakeLeader(
  script: (conn: Deno.Conn) => Promise<void>,
): { port: number; connections(): number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let count = 0;
  const task = (async () => {
    for await (const conn of listener) {
      count++;
      open.add(conn);
      void script(conn).catch(() => {}).finally(() => {
        open.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      });
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    connections: () => count,
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
      await task;
    },
  };
}

/** Reads and discards one frame from a replica (its HELLO or FETCH); false when it closed. */
export async function skipFrame(conn: Deno.Conn): Promise<boolean> {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  let got = 0;
  while (got < header.length) {
    const n = await conn.read(header.subarray(got));
    if (n === null) return false;
    got += n;
  }
  let rest = new DataView(header.buffer).getUint32(4, true);
  const buf = new Uint8Array(4096);
  while (rest > 0) {
    const n = await conn.read(buf.subarray(0, Math.min(rest, buf.length)));
    if (n === null) return false;
    rest -= n;
  }
  return true;
}
