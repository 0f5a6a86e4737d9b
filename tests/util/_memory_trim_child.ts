/**
 * Child of memory_trim_test.ts, run with `--v8-flags=--expose-gc`: frees many small buffers
 * (small enough for malloc's arenas, not mmap) and prints "trimmed" once the trimmer logged a
 * trim, or "no trim" after its bound (2 s with the argument `unarmed`).
 */

import { startMemoryTrimmer } from "../../src/util/memory_trim.ts";

let trimmed = false;
// `unarmed`: the RSS must grow a terabyte before the trimmer binds glibc, so it never trims.
const unarmed = Deno.args[0] === "unarmed";
const trimmer = startMemoryTrimmer({
  checkMs: 20,
  growthBytes: 1024 * 1024,
  ...(unarmed ? { armBytes: 2 ** 40 } : {}),
  logger: (_level, message) => {
    if (message === "trimmed freed memory") trimmed = true;
  },
});
let held: Uint8Array[] = [];
for (let i = 0; i < 20_000; i++) held.push(new Uint8Array(4096).fill(i & 0xff));
held = [];
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const deadline = Date.now() + (unarmed ? 2_000 : 20_000);
while (!trimmed && Date.now() < deadline) {
  gc();
  await new Promise((r) => setTimeout(r, 50));
}
trimmer.stop();
console.log(trimmed ? "trimmed" : "no trim");
