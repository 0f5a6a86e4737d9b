/**
 * What the daemons beside `serve` share (`leader`, `replica`, `hub`, `serve --uplink`): flag
 * juggling, reading PEM and token files with messages naming the flag, and telling whether a
 * process holds a data directory.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { checkBindSecurity } from "../server/mod.ts";
import { type ParsedArgs, UsageError } from "./_args.ts";
import type { ServeSettings } from "./serve.ts";
import { type SyncTiming, syncTimingFromEnv } from "../fleet/timing.ts";

/** The fleet link timings of `CITYHALL_SYNC_TIMING`; a bad value is a usage error. */
export function readTiming(command: string): SyncTiming {
  try {
    return syncTimingFromEnv();
  } catch (err) {
    throw new UsageError(command, (err as Error).message);
  }
}

/** `parsed` without the value flags `names` (they belong to the role, not to `serve`). */
export function withoutFlags(parsed: ParsedArgs, names: readonly string[]): ParsedArgs {
  const strings = new Map(parsed.strings);
  for (const n of names) strings.delete(n);
  return { ...parsed, strings };
}

/** The bind security rule for a role's own listener. */
export function checkBind(command: string, bind: string, settings: ServeSettings): void {
  try {
    checkBindSecurity(bind, {
      authToken: settings.authToken,
      insecureNoAuth: settings.insecureNoAuth,
    });
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new UsageError(command, err.message);
    throw err;
  }
}

/** A text file named by `flag`; a `UsageError` naming the flag when it cannot be read. */
export async function readFlagFile(command: string, path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new UsageError(command, `cannot read ${flag} ${path}: ${reason}`);
  }
}

/** The `--tls-cert`/`--tls-key` PEM files, read. */
export async function readTlsFiles(
  command: string,
  settings: ServeSettings,
): Promise<{ cert: string; key: string } | undefined> {
  if (settings.tls === undefined) return undefined;
  return {
    cert: await readFlagFile(command, settings.tls.certFile, "--tls-cert"),
    key: await readFlagFile(command, settings.tls.keyFile, "--tls-key"),
  };
}

/**
 * Whether a process holds the data directory's lock (a running server does; a killed one's
 * lock went with it): true, false, or undefined when the lock file cannot be checked.
 */
export function lockHeld(dataDir: string): boolean | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(`${dataDir}/LOCK`, { read: true });
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? false : undefined;
  }
  try {
    // flock(LOCK_SH | LOCK_NB), held for microseconds: a server starting in that instant
    // would find the directory locked and exit (a supervisor restarts it).
    if (!file.tryLockSync(false)) return true;
    file.unlockSync();
    return false;
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}
