/**
 * One edge's connection at the hub. The edge dialled, but the hub sets the pace as a replica
 * does on a replication link: it asks (FETCH, RESUME, SNAPSHOT_REQUEST, FILE_FETCH) and the
 * edge answers. ARCHITECTURE.md § "The uplink handshake" and § "Streaming".
 *
 * Phases, each with its frame policy (`frames.ts`):
 * 1. `handshake`: only an uncompressed UPLINK_HELLO of at most `UPLINK_HELLO_BODY_BYTES_MAX`
 *    bytes is read, within the handshake deadline of the accept; it is judged (version, site
 *    and token, the site's recorded edge, the position) and admitted (one session per site).
 *    The site's edge id is recorded durably at first contact before WELCOME.
 * 2. `admitted`: RESUME of a frame the last link cut, a snapshot when the edge no longer holds
 *    the next sequence, then FETCH / RECORDS / ACK with up to `UPLINK_FETCHES_IN_FLIGHT`
 *    requests outstanding. A RECORDS frame is checked whole before any of it is applied, and
 *    acknowledged only once the hub's batches holding it are fdatasync'ed.
 *
 * @module
 */

import { CityHallError, ProtocolError } from "../errors.ts";
import { HUB_PARTIAL_FRAME_BYTES_MIN, UPLINK_FETCHES_IN_FLIGHT } from "../limits.ts";
import {
  decodeError,
  decodeSeq,
  encodeError,
  encodeFetch,
  encodeFrame,
  encodeSeq,
  ERROR_AUTH,
  ERROR_BAD_FRAME,
  ERROR_POSITION_GONE,
  ERROR_REFUSED,
  ERROR_REPLICA_AHEAD,
  ERROR_VERSION,
  ERROR_WRONG_LEADER,
  type Frame,
  FRAME_ACK,
  FRAME_CHUNKS,
  FRAME_ERROR,
  FRAME_FETCH,
  FRAME_HEARTBEAT,
  FRAME_RECORDS,
  FRAME_RESUME,
  FRAME_RESUME_DATA,
  FRAME_UPLINK_WELCOME,
} from "../replication/frame.ts";
import { FrameReader } from "../replication/frame_reader.ts";
import type { Refusal } from "../replication/handshake.ts";
import {
  checkRecordsFrame,
  decodeResumeData,
  decodeUplinkHello,
  encodeResume,
  encodeUplinkWelcome,
  hex,
  HUB_BEFORE_HELLO,
  HUB_FROM_EDGE,
  RESUME_GONE,
  SHIP_RAW,
  SHIP_ROLLUPS,
  UPLINK_PROTOCOL_VERSION,
  type UplinkHello,
} from "./frames.ts";
import type { HubCore, SiteState } from "./hub.ts";
import { receiveSnapshot } from "./hub_snapshot.ts";
import { addrString, errorMessage, frameFromBytes, FrameSender } from "./link.ts";
import { decodePosition, positionKey } from "./namespace.ts";
import { recordEdge, tokenMatches } from "./sites.ts";

/** One edge connection at the hub. */
export class HubSession {
  readonly addr: string;
  /** When the connection was accepted (the handshake deadline counts from here). */
  readonly startedMs = Date.now();
  readonly #hub: HubCore;
  readonly #conn: Deno.Conn;
  readonly #sender: FrameSender;
  readonly #reader: FrameReader;
  #site: SiteState | undefined;
  #edgeId: Uint8Array = new Uint8Array(0);
  #admitted = false;
  #refused = false;
  #closed = false;
  #lastReceivedMs = Date.now();
  /** Next edge sequence wanted: one past what the written batches hold. */
  #expected = 1;
  /** ACKs go out in order, each after its batches are durable. */
  #ackChain: Promise<void> = Promise.resolve();

  constructor(hub: HubCore, conn: Deno.Conn) {
    this.#hub = hub;
    this.#conn = conn;
    this.addr = addrString(conn.remoteAddr);
    this.#sender = new FrameSender(conn);
    this.#reader = new FrameReader(conn, HUB_BEFORE_HELLO);
    this.#reader.onBytes = () => {
      this.#lastReceivedMs = Date.now();
      if (this.#site !== undefined && this.#admitted) this.#site.lastContactMs = Date.now();
    };
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // TLS connections may not expose it.
    }
  }

  /** Closes the connection at once (no ERROR frame). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sender.stop();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  #send(type: number, body: Uint8Array): void {
    void this.#sender.send(encodeFrame(type, body));
  }

  /** Sends ERROR and closes the session; the reader loop stops. */
  refuse(code: number, message: string): void {
    if (this.#refused || this.#closed) return;
    this.#refused = true;
    void this.#sender.send(encodeFrame(FRAME_ERROR, encodeError(code, message)))
      .finally(() => this.close());
  }

  /** Deadlines and heartbeats. */
  #tick(): void {
    const hub = this.#hub;
    const now = Date.now();
    if (!this.#admitted) {
      if (now - this.startedMs > hub.handshakeTimeoutMs) {
        hub.logPreAuth("uplink handshake deadline passed: closing", {
          addr: this.addr,
          ms: hub.handshakeTimeoutMs,
        });
        this.close();
      }
      return;
    }
    if (now - this.#lastReceivedMs > hub.idleTimeoutMs) {
      hub.logger("warn", "uplink idle timeout: closing link", {
        site: this.#site?.name,
        addr: this.addr,
        idleMs: now - this.#lastReceivedMs,
      });
      this.close();
      return;
    }
    if (now - this.#sender.lastQueuedMs >= hub.heartbeatMs) {
      this.#send(FRAME_HEARTBEAT, encodeSeq(this.#site?.ackedSeq ?? 0, now));
    }
  }

  async run(): Promise<void> {
    const hub = this.#hub;
    const ticker = setInterval(
      () => this.#tick(),
      Math.max(10, Math.min(hub.heartbeatMs, hub.handshakeTimeoutMs, 1000) / 2),
    );
    try {
      const hello = await this.#handshake();
      if (hello === undefined) return;
      this.#reader.policy = HUB_FROM_EDGE;
      await this.#sync(hello);
    } catch (err) {
      this.#ended(err);
    } finally {
      await this.#ackChain.catch(() => {});
      await this.#sender.drained();
      clearInterval(ticker);
      this.close();
      hub.sessionEnded(this);
    }
  }

  /** Logs why the session ended; keeps a cut frame for RESUME. */
  #ended(err: unknown): void {
    const site = this.#site;
    const cut = this.#reader.cutFrame;
    if (
      site !== undefined && this.#admitted && cut !== undefined &&
      (cut[0] === FRAME_RECORDS || cut[0] === FRAME_CHUNKS) &&
      cut.length >= HUB_PARTIAL_FRAME_BYTES_MIN
    ) {
      this.#hub.keepPartial(site, cut, hex(this.#edgeId));
    }
    if (this.#closed || this.#refused) return;
    const fields = { site: site?.name, addr: this.addr, error: errorMessage(err) };
    if (!this.#admitted) this.#hub.logPreAuth("uplink handshake failed", fields);
    else {
      this.#hub.logger("warn", "uplink link failed", fields);
      site!.lastError = errorMessage(err);
    }
    if (err instanceof ProtocolError && cut === undefined) {
      this.refuse(ERROR_BAD_FRAME, errorMessage(err));
    }
  }

  /** The rules a HELLO must pass, in order (§ "The uplink handshake"). */
  async #judge(hello: UplinkHello): Promise<Refusal | undefined> {
    if (hello.version !== UPLINK_PROTOCOL_VERSION) {
      return {
        code: ERROR_VERSION,
        message:
          `Uplink protocol version ${hello.version} not supported (hub speaks ${UPLINK_PROTOCOL_VERSION})`,
        reason: `protocol version ${hello.version}`,
      };
    }
    // The site and its token together: an unknown site and a wrong token look the same.
    const site = this.#hub.site(hello.site);
    if (site === undefined || !(await tokenMatches(hello.token, site.record.tokenSha256))) {
      return { code: ERROR_AUTH, message: "Wrong site or token", reason: "wrong site or token" };
    }
    this.#site = site;
    const edge = hex(hello.edgeId);
    if (site.record.edgeId !== null && site.record.edgeId !== edge) {
      return {
        code: ERROR_WRONG_LEADER,
        message:
          `Site ${site.name} belongs to edge ${site.record.edgeId}; this edge is ${edge} (a re-initialised data directory?). On the hub, "cityhall hub site reset ${site.name}" accepts it and replaces the site's data`,
        reason: `edge ${edge} is not the site's recorded edge ${site.record.edgeId}`,
      };
    }
    if (hello.shipMode !== SHIP_RAW && hello.shipMode !== SHIP_ROLLUPS) {
      return {
        code: ERROR_REFUSED,
        message: `Unknown ship mode ${hello.shipMode}`,
        reason: `ship mode ${hello.shipMode}`,
      };
    }
    const position = site.applier.position(hello.edgeId);
    if (position > hello.edgeDurableSeq) {
      return {
        code: ERROR_REPLICA_AHEAD,
        message:
          `The hub holds site ${site.name} up to ${position}, beyond this edge's ${hello.edgeDurableSeq} (restored from an older copy?)`,
        reason: `hub position ${position} is beyond the edge's ${hello.edgeDurableSeq}`,
      };
    }
    return undefined;
  }

  /** Reads UPLINK_HELLO, judges and admits it, records the edge, sends WELCOME. */
  async #handshake(): Promise<UplinkHello | undefined> {
    const hub = this.#hub;
    const frame = await this.#reader.next();
    if (frame === undefined || this.#closed) return undefined;
    const hello = decodeUplinkHello(frame.body);
    let refusal = await this.#judge(hello);
    const site = this.#site;
    if (refusal === undefined && site !== undefined) refusal = hub.admit(this, site);
    if (this.#closed) return undefined;
    if (refusal !== undefined) {
      if (refusal.code === ERROR_AUTH || refusal.code === ERROR_VERSION || site === undefined) {
        hub.logPreAuth(`refusing uplink: ${refusal.reason}`, { addr: this.addr, site: hello.site });
      } else {
        hub.logger("warn", `refusing uplink: ${refusal.reason}`, {
          addr: this.addr,
          site: site.name,
        });
        site.lastError = refusal.message;
        if (site.session === undefined) site.state = "refused";
        hub.dirty();
      }
      this.refuse(refusal.code, refusal.message);
      return undefined;
    }
    this.#admitted = true;
    this.#edgeId = hello.edgeId;
    const edge = hex(hello.edgeId);
    if (site!.record.edgeId === null) {
      // Recorded durably before anything is applied: from now on only this edge is the site.
      const recorded = await recordEdge(hub.fs, hub.db.dir, site!.name, edge);
      if (recorded !== edge) {
        this.refuse(ERROR_REFUSED, "Site changed at the hub during the handshake");
        return undefined;
      }
      site!.record = { ...site!.record, edgeId: edge };
      hub.logger("info", "site's edge recorded at first contact", { site: site!.name, edge });
    }
    const position = site!.applier.position(hello.edgeId);
    site!.ackedSeq = position;
    site!.edgeDurableSeq = hello.edgeDurableSeq;
    site!.lastError = "";
    this.#expected = position + 1;
    this.#send(
      FRAME_UPLINK_WELCOME,
      encodeUplinkWelcome({
        hubId: hub.db.databaseId,
        position,
        heartbeatMs: hub.heartbeatMs,
        idleTimeoutMs: hub.idleTimeoutMs,
      }),
    );
    hub.logger("info", "site connected", {
      site: site!.name,
      addr: this.addr,
      position,
      edgeSeq: hello.edgeDurableSeq,
      edgeFirstSeq: hello.edgeFirstSeq,
    });
    hub.dirty();
    return hello;
  }

  /** After WELCOME: resume, snapshot if needed, then stream. */
  async #sync(hello: UplinkHello): Promise<void> {
    const site = this.#site!;
    const stored = site.applier.written ?? this.#storedPosition();
    const otherEdge = stored !== undefined && hex(stored.edgeId) !== hex(this.#edgeId);
    const partial = site.partial;
    if (partial !== undefined && partial.edgeId === hex(this.#edgeId) && !otherEdge) {
      await this.#resume(partial.bytes);
    }
    if (site.needsSnapshot || hello.edgeFirstSeq > this.#expected) {
      await this.#snapshot();
    } else if (otherEdge && site.ackedSeq === 0) {
      // The site was reset for a new edge: its old keys go before the new edge's arrive.
      const deleted = await site.applier.clear();
      this.#hub.logger("info", "cleared a reset site's data", { site: site.name, keys: deleted });
    }
    await this.#stream();
  }

  #storedPosition(): { edgeId: Uint8Array; seq: number } | undefined {
    const entry = this.#hub.db.getEntry(positionKey(this.#site!.name));
    return entry === undefined ? undefined : decodePosition(entry.value);
  }

  /** Asks for the rest of the frame the last link cut, and applies it when it comes. */
  async #resume(bytes: Uint8Array): Promise<void> {
    const site = this.#site!;
    this.#hub.keepPartial(site, new Uint8Array(0), "");
    const view = new DataView(bytes.buffer, bytes.byteOffset, 12);
    const crc = view.getUint32(8, true);
    const bodyLength = view.getUint32(4, true);
    this.#send(FRAME_RESUME, encodeResume({ crc, bodyLength, haveBytes: bytes.length }));
    const frame = await this.#nextWork();
    if (frame.type !== FRAME_RESUME_DATA) {
      throw new ProtocolError(`Expected RESUME_DATA, got frame type ${frame.type}`);
    }
    const data = decodeResumeData(frame.body);
    if (data.status === RESUME_GONE) return;
    if (
      data.crc !== crc || data.offset !== bytes.length ||
      bytes.length + data.rest.length !== 12 + bodyLength
    ) {
      throw new ProtocolError("Cannot accept RESUME_DATA: it does not complete the cut frame");
    }
    const whole = new Uint8Array(12 + bodyLength);
    whole.set(bytes, 0);
    whole.set(data.rest, bytes.length);
    const resumed = await frameFromBytes(whole, HUB_FROM_EDGE);
    if (resumed.type !== FRAME_RECORDS && resumed.type !== FRAME_CHUNKS) {
      throw new ProtocolError(`Resumed frame is of type ${resumed.type}, not RECORDS or CHUNKS`);
    }
    site.resumes++;
    this.#hub.logger("info", "resumed a cut frame", {
      site: site.name,
      heldBytes: bytes.length,
      restBytes: data.rest.length,
    });
    // The cut frame's bytes crossed the link before; only the rest counts now.
    this.#onRecords({ ...resumed, wireBytes: frame.wireBytes });
  }

  /** Receives a snapshot and makes it the site's data; the stream continues after it. */
  async #snapshot(): Promise<void> {
    const site = this.#site!;
    const hub = this.#hub;
    site.state = "snapshot";
    hub.dirty();
    const { seq } = await receiveSnapshot({
      fs: hub.fs,
      staging: hub.stagingDir(site.name),
      edgeId: this.#edgeId,
      fetchBytes: hub.fetchBytes,
      log: hub.logger,
      site: site.name,
      send: (type, body) => this.#send(type, body),
      nextWork: () => this.#nextWork(),
    }, site.applier);
    site.needsSnapshot = false;
    site.snapshots++;
    site.state = "online";
    site.ackedSeq = seq;
    this.#expected = seq + 1;
    this.#send(FRAME_ACK, encodeSeq(seq));
    hub.dirty();
  }

  /** FETCH / RECORDS / ACK until the link ends. */
  async #stream(): Promise<void> {
    const hub = this.#hub;
    const fetch = (fromSeq: number) =>
      this.#send(
        FRAME_FETCH,
        encodeFetch({ fromSeq, maxBytes: hub.fetchBytes, waitMs: hub.fetchWaitMs }),
      );
    // The first FETCH names the position; the others continue where the previous one ends.
    fetch(this.#expected);
    for (let i = 1; i < UPLINK_FETCHES_IN_FLIGHT; i++) fetch(0);
    while (!this.#closed && !this.#refused) {
      const frame = await this.#nextFrame();
      if (frame.type === FRAME_RECORDS || frame.type === FRAME_CHUNKS) {
        this.#onRecords(frame);
        fetch(0);
      } else if (frame.type === FRAME_HEARTBEAT) {
        this.#onHeartbeat(frame.body);
      } else if (frame.type === FRAME_ERROR) {
        throw this.#edgeError(frame.body);
      } else {
        throw new ProtocolError(`Unexpected frame type ${frame.type} from an edge`);
      }
    }
  }

  /** One RECORDS frame: checked whole, applied, acknowledged once durable. */
  #onRecords(frame: Frame): void {
    const site = this.#site!;
    const hub = this.#hub;
    const checked = checkRecordsFrame(frame.body, this.#expected, frame.type === FRAME_CHUNKS);
    const h = checked.header;
    const now = Date.now();
    site.wireBytes += frame.wireBytes;
    site.meter.add(frame.wireBytes, 0);
    site.edgeDurableSeq = Math.max(site.edgeDurableSeq, h.edgeDurableSeq);
    site.behindBytes = h.behindBytes;
    site.behindMs = h.behindMs;
    site.behindAtMs = now;
    if (checked.records.length === 0) return;
    const before = this.#expected - 1;
    const result = site.applier.apply(checked.records, this.#edgeId);
    this.#expected = h.lastSeq + 1;
    const position = result.position;
    this.#ackChain = this.#ackChain.then(() => result.durable).then(() => {
      if (this.#closed) return;
      this.#send(FRAME_ACK, encodeSeq(position));
      const gained = Math.max(0, position - Math.max(before, site.ackedSeq));
      site.ackedSeq = Math.max(site.ackedSeq, position);
      site.entries += gained;
      site.meter.add(0, gained);
      hub.dirty();
    });
    this.#ackChain.catch((err) => {
      // The hub's database failed to write: nothing more is acknowledged.
      site.lastError = `Cannot apply: ${errorMessage(err)}`;
      hub.logger("error", "cannot apply a site's records", {
        site: site.name,
        error: errorMessage(err),
      });
      this.close();
    });
  }

  #onHeartbeat(body: Uint8Array): void {
    const seq = decodeSeq(body, "HEARTBEAT");
    const site = this.#site!;
    if (seq > site.edgeDurableSeq) site.edgeDurableSeq = seq;
  }

  /** An ERROR from the edge as the error the session ends with. */
  #edgeError(body: Uint8Array): Error {
    const { code, message } = decodeError(body);
    if (code === ERROR_POSITION_GONE) this.#site!.needsSnapshot = true;
    return new CityHallError(`Edge ended the link: ${message} (code ${code})`);
  }

  async #nextFrame(): Promise<Frame> {
    const frame = await this.#reader.next();
    if (frame === undefined) throw new CityHallError("Edge closed the link");
    return frame;
  }

  /** The next frame that is not a HEARTBEAT; an ERROR throws. */
  async #nextWork(): Promise<Frame> {
    for (let i = 0; i < 1_000_000; i++) {
      const frame = await this.#nextFrame();
      if (frame.type === FRAME_HEARTBEAT) {
        this.#onHeartbeat(frame.body);
        continue;
      }
      if (frame.type === FRAME_ERROR) throw this.#edgeError(frame.body);
      return frame;
    }
    throw new ProtocolError("Edge sends nothing but heartbeats");
  }
}
