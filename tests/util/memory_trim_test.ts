import { assert, assertEquals } from "@std/assert";
import { shrinkHeapOnce, startMemoryTrimmer, trimFreedMemory } from "../../src/util/memory_trim.ts";

const linuxGlibc = Deno.build.os === "linux" && trimFreedMemory();

Deno.test("trimFreedMemory trims on Linux with glibc, and is a no-op elsewhere", () => {
  // CI runs on Linux with glibc: there the trim must really be available, or servers keep
  // their peak RSS (ARCHITECTURE.md § "Memory").
  if (Deno.build.os === "linux") assert(linuxGlibc, "malloc_trim reachable through FFI");
  else assertEquals(trimFreedMemory(), false);
});

async function runChild(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("./_memory_trim_child.ts", import.meta.url).pathname,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("startMemoryTrimmer trims once freed buffers pile up in the C heap", async () => {
  if (!linuxGlibc) return;
  assertEquals(await runChild(), "trimmed");
});

Deno.test("startMemoryTrimmer does nothing until the RSS grew armBytes past the RSS at start", async () => {
  // An idle server does not bind glibc through FFI (~2 MiB of RSS) while it has nothing to trim.
  if (!linuxGlibc) return;
  assertEquals(await runChild("unarmed"), "no trim");
});

Deno.test("startMemoryTrimmer given the RSS from before a server opened its data trims what the open freed at once", async () => {
  // A server that replayed a long log at open held the freed buffers' pages until its RSS
  // grew another armBytes (a reopen with 10,000 series: ~90 MiB more while it listened).
  if (!linuxGlibc) return;
  assertEquals(await runChild("opened"), "trimmed at start");
});

Deno.test("startMemoryTrimmer's timer does not keep the process alive and stops", () => {
  // The test runner's leak check fails this test if `stop` leaves the interval running.
  const trimmer = startMemoryTrimmer({ checkMs: 10 });
  trimmer.stop();
});

Deno.test("without --allow-ffi the trimmer does nothing and asks for nothing", async () => {
  // A server run with narrower permissions must neither fail nor stop at a permission prompt.
  const dir = await Deno.makeTempDir({ prefix: "cityhall-trim-" });
  try {
    const script = `${dir}/no_ffi.ts`;
    await Deno.writeTextFile(
      script,
      `import { startMemoryTrimmer, trimFreedMemory } from ${
        JSON.stringify(new URL("../../src/util/memory_trim.ts", import.meta.url).href)
      };
startMemoryTrimmer().stop();
console.log(trimFreedMemory());
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "false");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shrinkHeapOnce collects only where V8 exposes gc, and then shrinks the heap", async () => {
  // `deno test` runs without --expose-gc: nothing to call, nothing done.
  assertEquals(shrinkHeapOnce(), false);
  // With it (the flags of `deno task start`), the young generation grown by garbage goes back.
  const dir = await Deno.makeTempDir({ prefix: "cityhall-shrink-" });
  try {
    const script = `${dir}/shrink.ts`;
    await Deno.writeTextFile(
      script,
      `import { shrinkHeapOnce } from ${
        JSON.stringify(new URL("../../src/util/memory_trim.ts", import.meta.url).href)
      };
let keep = [];
for (let i = 0; i < 200_000; i++) keep.push({ i, s: "x" + i });
keep = [];
const before = Deno.memoryUsage().heapTotal;
const ran = shrinkHeapOnce();
console.log(ran, Deno.memoryUsage().heapTotal < before);
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--v8-flags=--max-semi-space-size=4,--expose-gc", script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "true true");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
