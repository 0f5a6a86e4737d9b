/**
 * Child of real_fs_test.ts, run under the umask the test chose: creates every kind of file
 * and directory through `RealFs` and the engine in `Deno.args[0]`.
 */

import { joinPath, RealFs, writeFileAtomic } from "../../src/fs/mod.ts";
import { Database } from "../../src/mod.ts";

const root = Deno.args[0]!;
const fs = new RealFs();
fs.mkdirp(joinPath(root, "a/b/c"));
const created = fs.open(joinPath(root, "a/created"), { write: true, create: true });
created.writeAt(new TextEncoder().encode("x"), 0);
created.close();
fs.open(joinPath(root, "a/b/new"), { write: true, createNew: true }).close();
writeFileAtomic(fs, joinPath(root, "a/b"), "atomic", new TextEncoder().encode("y"));
fs.lock(joinPath(root, "a/LOCK")).release();
// An older version's 0644 file is tightened when opened for writing.
Deno.writeFileSync(joinPath(root, "a/old"), new Uint8Array(1));
Deno.chmodSync(joinPath(root, "a/old"), 0o644);
fs.open(joinPath(root, "a/old"), { write: true, create: true }).close();
// The engine: WAL, manifest, LOCK, SSTables (flush), compaction output.
const db = await Database.open(joinPath(root, "db/nested"), { memtableSizeBytesMax: 64 * 1024 });
for (let round = 0; round < 3; round++) {
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 500; i++) writes.push(db.put(`k${round}.${i}`, "v".repeat(200)));
  await Promise.all(writes);
  await db.flush();
}
await db.compact();
await db.close();
