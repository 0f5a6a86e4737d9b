/**
 * Operating-system errors of the file system (ENOTDIR, EACCES, EPERM, EROFS, ENOSPC, ...) in
 * one line an operator can act on: the cause in words, the code, the call and path that
 * failed, and what to do. Every command that opens a data directory reports its failures
 * through `dataDirFailure`; `main` uses `describeFsError` as the last resort for the others,
 * so none of them ends in a stack trace because a disk or a directory said no.
 *
 * @module
 */

// Not node:path nor @std/path's mod.ts: `serve` loads no Node.js module at start (idle RSS).
import { dirname } from "./_path.ts";
import { CityHallError, LockedError } from "../errors.ts";

/** Causes in words, by errno name. */
const CAUSES: Record<string, string> = {
  ENOTDIR: "not a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  ENOENT: "no such file or directory",
  EEXIST: "file exists",
  EISDIR: "is a directory",
  EMFILE: "too many open files in this process",
  ENFILE: "too many open files in the system",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many levels of symbolic links",
  EBUSY: "device or resource busy",
  EFBIG: "file too large",
};

/** A file-system error, taken apart. */
export interface FsErrorInfo {
  /** The errno name, e.g. `ENOTDIR`. */
  code: string;
  /** The cause in words, e.g. `not a directory`. */
  cause: string;
  /** The system call, when the error names it (`mkdir`, `open`). */
  syscall: string | undefined;
  /** The path the call failed on, when the error names it. */
  path: string | undefined;
}

/**
 * Takes apart an error of `node:fs` (`code`, `syscall`, `path`) or of `Deno.*` (`code`, the
 * path quoted in the message); `undefined` for anything else (bugs keep their stack traces).
 */
export function describeFsError(err: unknown): FsErrorInfo | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; syscall?: unknown; path?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  if (code === undefined || CAUSES[code] === undefined) return undefined;
  const quoted = /(\w+) '([^']+)'$/.exec(err.message);
  return {
    code,
    cause: CAUSES[code]!,
    syscall: typeof e.syscall === "string" ? e.syscall : quoted?.[1],
    path: typeof e.path === "string" ? e.path : quoted?.[2],
  };
}

/** The nearest existing ancestor of `path` that is not a directory (the ENOTDIR culprit). */
function fileInTheWay(path: string): string | undefined {
  for (let p = path; p !== dirname(p); p = dirname(p)) {
    try {
      const info = Deno.statSync(p);
      return info.isDirectory ? undefined : p;
    } catch {
      // Missing, or itself under a file: look one level up.
    }
  }
  return undefined;
}

function uidText(): string {
  try {
    const uid = Deno.uid();
    return uid === null ? "" : ` (uid ${uid})`;
  } catch {
    return "";
  }
}

/** What the operator can do about `info`. */
function hint(info: FsErrorInfo): string {
  switch (info.code) {
    case "ENOTDIR": {
      const file = info.path === undefined ? undefined : fileInTheWay(info.path);
      return file === undefined ? "a part of the path is a file" : `${file} is a file`;
    }
    case "EACCES":
    case "EPERM":
      return `the user running cityhall${uidText()} cannot write there: ` +
        "fix the owner or mode, or choose another --data-dir";
    case "EROFS":
      return "the file system is mounted read-only: choose another --data-dir";
    case "ENOSPC":
    case "EDQUOT":
      return "free some space, or choose another --data-dir";
    default:
      return "";
  }
}

/** `cause (CODE at call path): hint` for a file-system error. */
export function formatFsError(info: FsErrorInfo): string {
  const where = [info.syscall, info.path].filter((s) => s !== undefined).join(" ");
  const h = hint(info);
  return `${info.cause} (${info.code}${where === "" ? "" : ` at ${where}`})${h ? `: ${h}` : ""}`;
}

/**
 * The one-line message for a failure to open or create data directory `dir`, or `undefined`
 * when `err` is neither a file-system error nor a CityHall operating error (a bug).
 */
export function dataDirFailure(dir: string, err: unknown): string | undefined {
  if (err instanceof LockedError) {
    return `Cannot open data directory ${dir}: another process holds its lock ` +
      `(is a server already running on it?)`;
  }
  const info = describeFsError(err);
  if (info !== undefined) return `Cannot open data directory ${dir}: ${formatFsError(info)}`;
  if (err instanceof CityHallError) return `Cannot open data directory ${dir}: ${err.message}`;
  if (err instanceof SyntaxError) {
    // A hand-edited or damaged JSON state file (replication/*.json).
    return `Cannot open data directory ${dir}: a state file is not valid JSON: ${err.message}`;
  }
  return undefined;
}
