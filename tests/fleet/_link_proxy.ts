/**
 * A TCP proxy between edges and a hub that cuts or stalls links on demand, in either
 * direction, after a chosen number of bytes (so mid-frame), and counts what it did.
 *
 * @module
 */

/** What happens to a connection: after `afterBytes` bytes in `direction` it is cut or stalled. */
export interface LinkFault {
  /** `up`: edge → hub (RECORDS, FILE_CHUNK); `down`: hub → edge. */
  direction: "up" | "down";
  afterBytes: number;
  /** `stall`: nothing is forwarded that way for `stallMs`, then the link carries on. */
  mode: "cut" | "stall";
  stallMs?: number;
}

/** A running proxy. */
export interface LinkProxy {
  port: number;
  readonly connections: number;
  readonly cuts: number;
  readonly stalls: number;
  /**
   * Faults for connections accepted from now on (by their index), asked again after each
   * stall; undefined = a clean link from there on.
   */
  setFaults(fault: (connection: number) => LinkFault | undefined): void;
  /** Cuts every open connection now. */
  cutAll(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 forwarding to `targetPort`. */
export function startLinkProxy(targetPort: number): LinkProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  let cuts = 0;
  let stalls = 0;
  let faults: (connection: number) => LinkFault | undefined = () => undefined;
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let closing = false;
  const waits = new Set<() => void>();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        waits.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      waits.add(release);
    });
  const closeConn = (c: Deno.Conn) => {
    try {
      c.close();
    } catch {
      // Already closed.
    }
    open.delete(c);
  };
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    fault: LinkFault | undefined,
    again: () => LinkFault | undefined,
  ) => {
    const buf = new Uint8Array(16 * 1024);
    const frames = new FrameTracker();
    let sent = 0;
    let pending = fault;
    const write = async (chunk: Uint8Array) => {
      let off = 0;
      while (off < chunk.length) off += await to.write(chunk.subarray(off));
    };
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        let chunk = buf.subarray(0, n);
        // The fault strikes at the first byte past its budget that lies inside a frame.
        const at = pending === undefined
          ? -1
          : frames.insideAtOrAfter(chunk, sent, Math.max(sent, pending.afterBytes));
        if (pending !== undefined && at >= 0) {
          const before = chunk.subarray(0, at - sent);
          frames.feed(before);
          await write(before);
          if (pending.mode === "cut") {
            cuts++;
            break;
          }
          // A stall: nothing moves this way for a while, then the link carries on.
          stalls++;
          await wait(pending.stallMs ?? 1000);
          if (closing) break;
          chunk = chunk.subarray(before.length);
          sent += before.length;
          // A stalled link lives on: it may meet the next fault too.
          pending = again();
          if (pending !== undefined) {
            pending = { ...pending, afterBytes: sent + pending.afterBytes };
          }
        }
        frames.feed(chunk);
        await write(chunk);
        sent += chunk.length;
      }
    } catch {
      // Either side went away.
    }
    closeConn(from);
    closeConn(to);
  };
  const accept = (async () => {
    for await (const conn of listener) {
      if (closing) {
        conn.close();
        break;
      }
      const index = connections++;
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        conn.close();
        continue;
      }
      open.add(conn);
      open.add(upstream);
      const fault = faults(index);
      // After a stall, the next fault for this way of this connection (others are dropped).
      const again = (direction: "up" | "down") => () => {
        for (let i = 0; i < 8; i++) {
          const f = faults(index);
          if (f === undefined || f.direction === direction) return f;
        }
        return undefined;
      };
      const task = Promise.all([
        pipe(conn, upstream, fault?.direction === "up" ? fault : undefined, again("up")),
        pipe(upstream, conn, fault?.direction === "down" ? fault : undefined, again("down")),
      ]).then(() => {});
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    get stalls() {
      return stalls;
    },
    setFaults(fault) {
      faults = fault;
    },
    cutAll() {
      for (const c of [...open]) closeConn(c);
    },
    async close() {
      closing = true;
      listener.close();
      for (const release of [...waits]) release();
      for (const c of [...open]) closeConn(c);
      await accept;
      await Promise.allSettled([...tasks]);
    },
  };
}

/**
 * Follows the frames of a CityHall Sync stream (12-byte header, body length at offset 4) to
 * tell which stream offsets lie strictly inside a frame.
 */
class FrameTracker {
  /** Stream offset where the current frame's header starts. */
  #start = 0;
  /** Stream offset where it ends; -1 while its header is incomplete. */
  #end = -1;
  #header = new Uint8Array(12);
  #have = 0;
  #offset = 0;

  /** Moves past `chunk`. */
  feed(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length;) {
      if (this.#end < 0) {
        const n = Math.min(12 - this.#have, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + n), this.#have);
        this.#have += n;
        i += n;
        this.#offset += n;
        if (this.#have === 12) {
          const length = new DataView(this.#header.buffer).getUint32(4, true);
          this.#end = this.#start + 12 + length;
        }
        continue;
      }
      const n = Math.min(this.#end - this.#offset, chunk.length - i);
      i += n;
      this.#offset += n;
      if (this.#offset === this.#end) {
        this.#start = this.#end;
        this.#end = -1;
        this.#have = 0;
      }
    }
  }

  /**
   * The first stream offset ≥ `from` within `chunk` (which starts at `base`) that lies strictly
   * inside a frame, or -1. Does not move the tracker.
   */
  insideAtOrAfter(chunk: Uint8Array, base: number, from: number): number {
    const probe = new FrameTracker();
    probe.#start = this.#start;
    probe.#end = this.#end;
    probe.#header.set(this.#header);
    probe.#have = this.#have;
    probe.#offset = this.#offset;
    for (let i = 0; i < chunk.length; i++) {
      const at = base + i;
      const inside = at > probe.#start && (probe.#end < 0 || at < probe.#end);
      if (at >= from && inside) return at;
      probe.feed(chunk.subarray(i, i + 1));
    }
    return -1;
  }
}
