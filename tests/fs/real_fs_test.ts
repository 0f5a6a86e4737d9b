/**
 * `RealFs` creates files 0600 and directories 0700 whatever the umask: with a permissive
 * umask (000) nothing becomes readable by other users, and with one that takes owner bits
 * away (0277) the engine can still write its files.
 */

import { assert, assertEquals } from "@std/assert";
import { RealFs } from "../../src/fs/mod.ts";
import { runChild } from "../_helpers/child.ts";

const CHILD = new URL("./_modes_child.ts", import.meta.url).pathname;

/** Every path under `root` (not `root` itself) with its permission bits. */
async function modes(root: string, base = root): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    out.set(path.slice(base.length + 1), (await Deno.stat(path)).mode! & 0o777);
    if (entry.isDirectory) { for (const [p, m] of await modes(path, base)) out.set(p, m); }
  }
  return out;
}

for (const umask of ["000", "022", "277"]) {
  Deno.test(`RealFs creates files 0600 and directories 0700 under umask ${umask}`, async () => {
    const root = await Deno.makeTempDir({ prefix: "cityhall-modes-" });
    try {
      // The umask is per process: set it in a child so that no other test sees it.
      const out = await runChild("sh", [
        "-c",
        `umask ${umask} && exec "$0" run -A --quiet "$1" "$2"`,
        Deno.execPath(),
        CHILD,
        root,
      ]);
      assertEquals(out.code, 0, out.stderr);
      const found = await modes(root);
      const wrong = [...found].filter(([path, mode]) => {
        const isDir = Deno.statSync(`${root}/${path}`).isDirectory;
        return mode !== (isDir ? 0o700 : 0o600);
      }).map(([path, mode]) => `${path} ${mode.toString(8)}`);
      assertEquals(wrong, []);
      // Everything the child made is there: the engine's kinds of files included.
      const names = [...found.keys()];
      for (
        const want of [
          "a/b/c",
          "a/created",
          "a/b/new",
          "a/b/atomic",
          "a/LOCK",
          "a/old",
          "db/nested/LOCK",
          "db/nested/wal",
        ]
      ) {
        assertEquals(names.includes(want), true, `${want} missing from ${names.join(" ")}`);
      }
      assertEquals(names.some((n) => n.endsWith(".sst")), true, names.join(" "));
      assertEquals(names.some((n) => n.startsWith("db/nested/wal/")), true, names.join(" "));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("RealFs.availableBytes: unknown until node:fs has loaded on the first call, then the file system's free bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-realfs-free-" });
  try {
    const fs = new RealFs();
    let free = fs.availableBytes(dir);
    // The first call starts loading node:fs (not loaded at start: idle RSS); poll, bounded.
    for (let i = 0; i < 600 && free === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      free = fs.availableBytes(dir);
    }
    assert(free !== undefined && free > 0, `free bytes: ${free}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
