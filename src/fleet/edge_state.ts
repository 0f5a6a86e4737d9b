/**
 * An edge's uplink files under `<data>/uplink/`, written atomically (tmp, fsync, rename, fsync
 * the directory); ARCHITECTURE.md § "Edge files".
 *
 * - `state.json`: the site, the hub id recorded at first contact, the hub's acknowledged
 *   position (`ackedSeq`: every sequence up to it is durable at the hub), what the disk-full
 *   policy evicted before the hub had it, and (sequence, time) samples that tell how old the
 *   oldest unacknowledged write is after a restart. Loaded before `Database.open`, so the
 *   first retention decision already keeps every record the hub has not acknowledged.
 * - `status.json`: what `cityhall uplink status` shows with the edge stopped.
 *
 * A stale `ackedSeq` (the edge died before writing the newest one) only keeps more WAL: the
 * hub's own position is the truth, and the next handshake brings it back.
 *
 * @module
 */

import { type FileSystem, joinPath, readWholeFile, writeFileAtomic } from "../fs/mod.ts";
import { UPLINK_TIME_SAMPLE_INTERVAL_MS, UPLINK_TIME_SAMPLES_MAX } from "../limits.ts";

/** Directory of an edge's uplink files inside its data directory. */
export const UPLINK_DIR_NAME = "uplink";
/** `state.json`. */
export const STATE_FILE_NAME = "state.json";
/** `status.json`. */
export const UPLINK_STATUS_FILE_NAME = "status.json";

/** What `state.json` holds. */
export interface EdgeState {
  version: 1;
  /** The site this edge sends as (the last one configured). */
  site: string;
  /** The hub's id recorded at first contact (32 hex digits); null before. */
  hubId: string | null;
  /** Every sequence up to this is applied and durable at the hub. */
  ackedSeq: number;
  /** When `ackedSeq` last moved (Unix ms; 0 = never). */
  ackedAtMs: number;
  /**
   * The disk-full policy released WAL up to here before the hub had it (`drop-oldest-raw`):
   * the hub gets a snapshot instead. 0 = never.
   */
  evictedThroughSeq: number;
  /** Operations evicted that way, ever. */
  evictedEntries: number;
  /** WAL bytes evicted that way, ever. */
  evictedBytes: number;
  /** (sequence durable, Unix ms) samples, oldest first. */
  samples: [number, number][];
}

/** A fresh state for `site`. */
export function newEdgeState(site: string): EdgeState {
  return {
    version: 1,
    site,
    hubId: null,
    ackedSeq: 0,
    ackedAtMs: 0,
    evictedThroughSeq: 0,
    evictedEntries: 0,
    evictedBytes: 0,
    samples: [],
  };
}

function readJson<T>(fs: FileSystem, path: string): T | undefined {
  if (fs.stat(path) === undefined) return undefined;
  return JSON.parse(new TextDecoder().decode(readWholeFile(fs, path))) as T;
}

function writeJson(fs: FileSystem, dataDir: string, name: string, value: unknown): void {
  const dir = joinPath(dataDir, UPLINK_DIR_NAME);
  fs.mkdirp(dir);
  writeFileAtomic(fs, dir, name, new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
}

/** `state.json` of `dataDir`, or undefined when the edge never ran an uplink. */
export function readEdgeState(fs: FileSystem, dataDir: string): EdgeState | undefined {
  const found = readJson<EdgeState>(fs, joinPath(dataDir, UPLINK_DIR_NAME, STATE_FILE_NAME));
  if (found === undefined || found.version !== 1) return undefined;
  return { ...newEdgeState(found.site), ...found, samples: found.samples ?? [] };
}

/** Persists `state.json`. */
export function saveEdgeState(fs: FileSystem, dataDir: string, state: EdgeState): void {
  writeJson(fs, dataDir, STATE_FILE_NAME, state);
}

/** Persists `status.json` (any JSON object: `UplinkStatus`). */
export function saveUplinkStatus(fs: FileSystem, dataDir: string, status: unknown): void {
  writeJson(fs, dataDir, UPLINK_STATUS_FILE_NAME, status);
}

/** Reads `status.json`, if any. */
export function readUplinkStatus<T>(fs: FileSystem, dataDir: string): T | undefined {
  return readJson<T>(fs, joinPath(dataDir, UPLINK_DIR_NAME, UPLINK_STATUS_FILE_NAME));
}

/** The WAL retention pin of the uplink: everything above it is still needed by the hub. */
export function uplinkPin(state: EdgeState): number {
  return Math.max(state.ackedSeq, state.evictedThroughSeq);
}

/**
 * Adds a (sequence, time) sample when the last one is older than the sample interval, and
 * thins the list by halving its older half when it is full: recent times stay precise, old
 * ones coarse, and the list stays bounded.
 */
export function addSample(state: EdgeState, seq: number, timeMs: number): boolean {
  const last = state.samples[state.samples.length - 1];
  if (last !== undefined && (last[0] >= seq || timeMs - last[1] < UPLINK_TIME_SAMPLE_INTERVAL_MS)) {
    return false;
  }
  state.samples.push([seq, timeMs]);
  if (state.samples.length > UPLINK_TIME_SAMPLES_MAX) {
    const half = Math.floor(state.samples.length / 2);
    const older = state.samples.slice(0, half).filter((_, i) => i % 2 === 0);
    state.samples = [...older, ...state.samples.slice(half)];
  }
  pruneSamples(state);
  return true;
}

/** Drops samples at or below the acknowledged position: they can no longer date anything. */
export function pruneSamples(state: EdgeState): void {
  if (state.samples.length > 0 && state.samples[0]![0] <= state.ackedSeq) {
    state.samples = state.samples.filter(([s]) => s > state.ackedSeq);
  }
}

/**
 * When `seq` became durable, as far as the samples tell: the time of the first sample that
 * covers it (an upper bound, within one sample interval), or undefined when none does.
 */
export function sampledTimeOf(
  samples: readonly [number, number][],
  seq: number,
): number | undefined {
  for (const [s, t] of samples) if (s >= seq) return t;
  return undefined;
}

/**
 * The edge's state in memory, shared by the WAL retention pin (installed before
 * `Database.open`), the uplink and the disk-full policy; `save` persists it.
 */
export class EdgeStateStore {
  readonly #fs: FileSystem;
  readonly #dir: string;
  /** The state (mutate through the methods, then `save`). */
  readonly state: EdgeState;

  private constructor(fs: FileSystem, dir: string, state: EdgeState) {
    this.#fs = fs;
    this.#dir = dir;
    this.state = state;
  }

  /**
   * Loads `state.json` (or a fresh state) for `site`. A state of another site starts over at
   * position 0: the hub's WELCOME says where the new site stands.
   */
  static load(fs: FileSystem, dataDir: string, site: string): EdgeStateStore {
    const found = readEdgeState(fs, dataDir);
    const state = found === undefined
      ? newEdgeState(site)
      : found.site === site
      ? found
      : { ...newEdgeState(site), evictedThroughSeq: found.evictedThroughSeq };
    return new EdgeStateStore(fs, dataDir, state);
  }

  /** The retention pin: the hub still needs every sequence above it. */
  get pin(): number {
    return uplinkPin(this.state);
  }

  /** The hub acknowledged (or, at WELCOME, holds) everything up to `seq`. */
  ack(seq: number, nowMs: number): boolean {
    if (seq === this.state.ackedSeq) return false;
    this.state.ackedSeq = seq;
    this.state.ackedAtMs = nowMs;
    pruneSamples(this.state);
    return true;
  }

  /** Persists `state.json`. */
  save(): void {
    saveEdgeState(this.#fs, this.#dir, this.state);
  }
}
