/**
 * Child of memory_trim_test.ts, run with `--v8-flags=--expose-gc`: frees many small buffers
 * (small enough for malloc's arenas, not mmap) and prints "trimmed" once the trimmer logged a
 * trim, or "no trim" after its bound (2 s with the argument `unarmed`); with `opened`, whether
 * the trimmer's first check, made when it starts, trimmed what was freed before it started.
 */

import { startMemoryTrimmer } from "../../src/util/memory_trim.ts";

if (Deno.args[0] === "opened") {
  // As a server that replayed a long log while it opened: the buffers were freed before the
  // trimmer starts, with the RSS from before they were made as its start. Its first check,
  // made at once, trims (the timer's checks are an hour apart).
  const startRss = Deno.memoryUsage().rss;
  let held: Uint8Array[] = [];
  for (let i = 0; i < 20_000; i++) held.push(new Uint8Array(4096).fill(i & 0xff));
  held = [];
  void held;
  (globalThis as { gc?: () => void }).gc?.();
  let trimmedAtStart = false;
  const trimmer = startMemoryTrimmer({
    checkMs: 3_600_000,
    growthBytes: 1024 * 1024,
    startRss,
    logger: (_level, message) => {
      if (message === "trimmed freed memory") trimmedAtStart = true;
    },
  });
  trimmer.stop();
  console.log(trimmedAtStart ? "trimmed at start" : "no trim at start");
  Deno.exit(0);
}

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
