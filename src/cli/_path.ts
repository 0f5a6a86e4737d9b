/**
 * The path functions the CLI needs at start, for this platform: CityHall's own POSIX ones
 * (`_path_posix.ts`), and on Windows @std/path's `windows/` modules, imported only there. Not
 * `@std/path`'s platform-choosing modules: they ask `globalThis.process?.platform`, and touching
 * the global `process` loads Deno's Node layer (~2 MiB of an idle server's RSS, ARCHITECTURE.md
 * § "Memory"); nor node:path, for the same reason; nor any npm package on Linux or macOS, whose
 * first load costs ~1 MiB more. `resolve` passes `Deno.cwd()` itself for the same reason.
 *
 * @module
 */

import * as posix from "./_path_posix.ts";

const windows = Deno.build.os === "windows" ? await import("./_path_windows.ts") : undefined;

/** The directory part of `path` (`@std/path`'s `dirname`). */
export const dirname: (path: string) => string = windows?.dirname ?? posix.dirname;

/** True when `path` is absolute (`@std/path`'s `isAbsolute`). */
export const isAbsolute: (path: string) => boolean = windows?.isAbsolute ?? posix.isAbsolute;

/** `parts` joined and normalized (`@std/path`'s `join`). */
export const join: (...parts: string[]) => string = windows?.join ?? posix.join;

/** `path` made absolute against the working directory, normalized (`@std/path`'s `resolve`). */
export function resolve(path: string): string {
  return windows ? windows.resolve(Deno.cwd(), path) : posix.resolve(Deno.cwd(), path);
}
