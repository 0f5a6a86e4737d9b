/**
 * The path functions the CLI needs at start, for this platform, from @std/path's `posix/` and
 * `windows/` modules. Not `@std/path`'s platform-choosing modules: they ask
 * `globalThis.process?.platform`, and touching the global `process` loads Deno's Node layer
 * (~2 MiB of an idle server's RSS, ARCHITECTURE.md § "Memory"); nor node:path, for the same
 * reason. `resolve` passes `Deno.cwd()` itself for the same reason.
 *
 * @module
 */

import { dirname as posixDirname } from "@std/path/posix/dirname.js";
import { isAbsolute as posixIsAbsolute } from "@std/path/posix/is_absolute.js";
import { join as posixJoin } from "@std/path/posix/join.js";
import { resolve as posixResolve } from "@std/path/posix/resolve.js";
import { dirname as windowsDirname } from "@std/path/windows/dirname.js";
import { isAbsolute as windowsIsAbsolute } from "@std/path/windows/is_absolute.js";
import { join as windowsJoin } from "@std/path/windows/join.js";
import { resolve as windowsResolve } from "@std/path/windows/resolve.js";

const windows = Deno.build.os === "windows";

/** The directory part of `path` (`@std/path`'s `dirname`). */
export const dirname: (path: string) => string = windows ? windowsDirname : posixDirname;

/** True when `path` is absolute (`@std/path`'s `isAbsolute`). */
export const isAbsolute: (path: string) => boolean = windows ? windowsIsAbsolute : posixIsAbsolute;

/** `parts` joined and normalized (`@std/path`'s `join`). */
export const join: (...parts: string[]) => string = windows ? windowsJoin : posixJoin;

/** `path` made absolute against the working directory, normalized (`@std/path`'s `resolve`). */
export function resolve(path: string): string {
  return windows ? windowsResolve(Deno.cwd(), path) : posixResolve(Deno.cwd(), path);
}
