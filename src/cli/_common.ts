/**
 * Settings shared by the CLI commands: the default data directory, the auth token (file or
 * environment) and the default addresses.
 *
 * @module
 */

// Not node:path nor @std/path's mod.ts: `serve` loads no Node.js module at start (idle RSS).
import { isAbsolute, join, resolve } from "./_path.ts";
import { UsageError } from "./_args.ts";

/** Default RESP port (`--port`). */
export const RESP_PORT_DEFAULT = 7878;
/** Default HTTP port (`--http-port`). */
export { HTTP_PORT_DEFAULT } from "../limits.ts";
/** Default address the server binds and the client connects to. */
export const HOST_DEFAULT = "127.0.0.1";
/** Environment variable holding the auth token when no `--auth-token-file` is given. */
export const AUTH_TOKEN_ENV = "CITYHALL_AUTH_TOKEN";
/** Largest auth token file read (a token is a line, not a document). */
const AUTH_TOKEN_FILE_BYTES_MAX = 64 * 1024;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // No --allow-env: behave as if unset.
    return undefined;
  }
}

/** `~/.cityhall/data`, with `~` from HOME (USERPROFILE on Windows); throws when neither is set. */
export function defaultDataDir(command: string): string {
  const home = env("HOME") ?? (Deno.build.os === "windows" ? env("USERPROFILE") : undefined);
  if (home === undefined || home === "") {
    throw new UsageError(command, "cannot find the home directory: pass --data-dir DIR");
  }
  return join(home, ".cityhall", "data");
}

/** The data directory from `--data-dir` (made absolute) or the default. */
export function resolveDataDir(command: string, flag: string | undefined): string {
  if (flag === undefined) return defaultDataDir(command);
  return isAbsolute(flag) ? flag : resolve(flag);
}

/**
 * The auth token: the trimmed contents of `file` when given, else `CITYHALL_AUTH_TOKEN`, else
 * `undefined`. Throws `UsageError` when the file cannot be read or is empty.
 */
export async function readAuthToken(
  command: string,
  file: string | undefined,
): Promise<string | undefined> {
  if (file === undefined) {
    const fromEnv = env(AUTH_TOKEN_ENV)?.trim();
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
  }
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (info.size > AUTH_TOKEN_FILE_BYTES_MAX) {
      throw new UsageError(command, `auth token file ${file} is larger than 64 KiB`);
    }
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const reason = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new UsageError(command, `cannot read auth token file ${file}: ${reason}`);
  }
  const token = text.trim();
  if (token === "") throw new UsageError(command, `auth token file ${file} is empty`);
  return token;
}

/** `host:port`, with brackets around IPv6 addresses. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
