/**
 * CityHall's embeddable API: a durable LSM-tree key-value store.
 *
 * ```ts
 * import { Database } from "./src/mod.ts";
 * const db = await Database.open("/tmp/cityhall-example");
 * await db.put("sensor.line1.temp", "21.5");
 * console.log(new TextDecoder().decode(await db.get("sensor.line1.temp")));
 * for await (const [key, value] of db.scan({ prefix: "sensor." }, { limit: 10 })) {
 *   console.log(key, value);
 * }
 * await db.close();
 * ```
 *
 * @module
 */

export {
  type BytesLike,
  type CompactionFilter,
  type CompactionFilterContext,
  type CompactionFilterDecision,
  CompactionFilterError,
  type CompactionStyle,
  Database,
  type DatabaseOptions,
  type DatabaseStats,
  type PutOptions,
  type ScanOptions,
  type ScanRange,
  type SyncMode,
  type ValueEntry,
  type WriteOp,
} from "./engine/mod.ts";
export {
  CityHallError,
  ClosedError,
  CorruptionError,
  DiskFullError,
  InvalidArgumentError,
  IoError,
  LockedError,
  ProtocolError,
  ReadOnlyError,
} from "./errors.ts";
export * as limits from "./limits.ts";
export { type FileSystem, RealFs } from "./fs/mod.ts";
export { FaultFs } from "./fs/fault_fs.ts";
export { VERSION } from "./version.ts";
