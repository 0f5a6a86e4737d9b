/**
 * POSIX path functions for the CLI, CityHall's own so that `serve` loads no npm package at
 * start (ARCHITECTURE.md § "Memory"). Same results as `@std/path/posix`'s `dirname`,
 * `isAbsolute`, `join` and `resolve` (tests/cli/path_test.ts compares them on random paths).
 *
 * @module
 */

/** `path`'s segments with `.` and empty ones dropped and `..` applied (kept when leading a relative path). */
function normalizeSegments(path: string, absolute: boolean): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(segment);
  }
  return out.join("/");
}

/** True when `path` is absolute. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** `path` with `.`, `..` and repeated slashes resolved; a trailing slash stays. */
function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = isAbsolute(path);
  let body = normalizeSegments(path, absolute);
  if (body === "" && !absolute) body = ".";
  if (body !== "" && path.endsWith("/")) body += "/";
  return absolute ? `/${body}` : body;
}

/** `parts` joined with `/` and normalized (empty parts left out; `.` for none). */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** `path` made absolute against `cwd` (itself absolute), normalized, without a trailing slash. */
export function resolve(cwd: string, path: string): string {
  let resolved = "";
  let absolute = false;
  for (const part of [path, cwd]) {
    if (part === "" || absolute) continue;
    resolved = resolved === "" ? part : `${part}/${resolved}`;
    absolute = isAbsolute(part);
  }
  const body = normalizeSegments(resolved, absolute);
  if (absolute) return `/${body}`;
  return body === "" ? "." : body;
}

/** The directory part of `path`: `.` when it has none, `/` for the root. */
export function dirname(path: string): string {
  if (path === "") return ".";
  let end = path.length;
  // Trailing slashes (but the first character) are not part of the last name.
  while (end > 1 && path[end - 1] === "/") end--;
  const slash = path.lastIndexOf("/", end - 1);
  if (slash < 0) return ".";
  let dirEnd = slash;
  while (dirEnd > 0 && path[dirEnd - 1] === "/") dirEnd--;
  return dirEnd === 0 ? "/" : path.slice(0, dirEnd);
}
