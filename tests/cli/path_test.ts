/**
 * The CLI's own POSIX path functions (`src/cli/_path_posix.ts`) against `@std/path/posix`, which
 * the CLI used until `serve` stopped loading npm packages at start: on seeded random paths (of
 * `.`, `..`, empty and repeated separators, names, leading and trailing slashes) every function
 * gives what @std/path gives.
 */

import { assertEquals } from "@std/assert";
import { dirname } from "@std/path/posix/dirname.js";
import { isAbsolute } from "@std/path/posix/is_absolute.js";
import { join } from "@std/path/posix/join.js";
import { resolve } from "@std/path/posix/resolve.js";
import * as ours from "../../src/cli/_path_posix.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";

const PIECES = ["a", "bc", ".", "..", "", "/", "//", "...", ".a", "a.", " "];

/** A random POSIX path. */
function path(rng: Rng): string {
  let p = rng.chance(0.4) ? "/" : "";
  const n = rng.int(5);
  for (let i = 0; i < n; i++) p += (i > 0 ? rng.pick(["/", "//", ""]) : "") + rng.pick(PIECES);
  if (rng.chance(0.2)) p += "/";
  return p;
}

Deno.test("the CLI's POSIX path functions give @std/path/posix's results on random paths", () => {
  const seed = seedFromEnv();
  const cases = intFromEnv("CITYHALL_PATH_CASES", 5_000);
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay), ${cases} cases`);
  const rng = new Rng(seed);
  for (let n = 0; n < cases; n++) {
    const p = path(rng);
    const parts = Array.from({ length: rng.int(4) }, () => path(rng));
    const cwd = `/${path(rng)}`;
    const what = JSON.stringify({ p, parts, cwd });
    assertEquals(ours.dirname(p), dirname(p), `dirname ${what}`);
    assertEquals(ours.isAbsolute(p), isAbsolute(p), `isAbsolute ${what}`);
    assertEquals(ours.join(...parts), join(...parts), `join ${what}`);
    assertEquals(ours.resolve(cwd, p), resolve(cwd, p), `resolve ${what}`);
  }
});
