/**
 * Operating errors: the things that go wrong at run time because of bad input, bad files or a
 * failing disk. Programmer errors are `assert` failures (src/util/assert.ts) and crash instead.
 *
 * Modelled on LevelDB's Status codes and Pebble's `ErrCorruption`: callers branch on the class,
 * users read the message. Messages start with a capital letter, have no trailing period and put
 * details after a colon, with the location (file and offset) where there is one.
 *
 * @module
 */

/** Base class of every CityHall operating error. */
export class CityHallError extends Error {
  /** Creates an error with a message and an optional cause. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Stored data failed a checksum, a magic number or a structural check. */
export class CorruptionError extends CityHallError {}

/** The caller passed something outside the documented limits or types; nothing was changed. */
export class InvalidArgumentError extends CityHallError {}

/** Bytes on a socket did not follow the protocol; the connection is closed. */
export class ProtocolError extends CityHallError {}

/** The operating system failed an I/O call; after a failed sync the database refuses writes. */
export class IoError extends CityHallError {}

/** The database is closed, or stopped accepting writes after a fatal error. */
export class ClosedError extends CityHallError {}

/** Another process holds the data directory's lock. */
export class LockedError extends CityHallError {}

/** A write was refused because this database is a read-only replica. */
export class ReadOnlyError extends CityHallError {}

/**
 * The file system has no space left (ENOSPC, EDQUOT). Unlike a failed fsync this loses nothing
 * and is not fatal: the database refuses writes, retries in the background and accepts writes
 * again by itself once space exists. The message starts with `disk full: ` in lower case on
 * purpose: RESP answers `-ERR disk full: ...`, worded like Redis's own error replies, and scripts
 * match on it.
 */
export class DiskFullError extends CityHallError {}

/** True when `err` means "no space left": a `DiskFullError`, or an OS error ENOSPC or EDQUOT. */
export function isNoSpaceError(err: unknown): boolean {
  if (err instanceof DiskFullError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** A `DiskFullError` saying what could not be done (`what`) and why (`cause`). */
export function diskFullError(what: string, cause: unknown): DiskFullError {
  if (cause instanceof DiskFullError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new DiskFullError(`disk full: ${what}: ${reason}`, { cause });
}
