/**
 * Windows path functions for the CLI: `@std/path`'s own, imported by `_path.ts` only on Windows
 * (an npm package, which a server on Linux or macOS does not load at start).
 *
 * @module
 */

export { dirname } from "@std/path/windows/dirname.js";
export { isAbsolute } from "@std/path/windows/is_absolute.js";
export { join } from "@std/path/windows/join.js";
export { resolve } from "@std/path/windows/resolve.js";
