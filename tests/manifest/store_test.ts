import { assert, assertEquals, assertThrows } from "@std/assert";
import { CorruptionError } from "../../src/errors.ts";
import { readWholeFile } from "../../src/fs/mod.ts";
import { FaultFs } from "../../src/fs/fault_fs.ts";
import {
  loadManifests,
  type ManifestState,
  ManifestStore,
  newManifestState,
} from "../../src/manifest/mod.ts";

function state(flushedSeq: number): ManifestState {
  return { ...newManifestState(), databaseId: new Uint8Array(16).fill(7), flushedSeq };
}

/** A store on a fresh FaultFs whose saves went through states 1, 2, …, n (all durable). */
function storeAt(n: number): { fs: FaultFs; store: ManifestStore } {
  const fs = new FaultFs();
  fs.mkdirp("/db");
  const store = new ManifestStore(fs, "/db");
  for (let i = 1; i <= n; i++) store.save(state(i));
  return { fs, store };
}

Deno.test("ManifestStore: a new database gets both copies; each save keeps the state before it", () => {
  const { fs, store } = storeAt(1);
  assertEquals(loadManifests(fs, "/db")?.previous?.flushedSeq, 1);
  store.save(state(2));
  store.save(state(3));
  const loaded = loadManifests(fs, "/db")!;
  assertEquals([loaded.source, loaded.state.flushedSeq, loaded.previous?.flushedSeq], [
    "current",
    3,
    2,
  ]);
  assertEquals(store.retainAfterSeq, 2);
  store.save(state(3), { resetPrevious: true });
  assertEquals(loadManifests(fs, "/db")?.previous?.flushedSeq, 3);
  assertEquals(store.retainAfterSeq, 3);
});

Deno.test("loadManifests(): MANIFEST damaged or missing → the previous copy; both bad → CorruptionError naming both", () => {
  const { fs } = storeAt(3);
  const bytes = readWholeFile(fs, "/db/MANIFEST");
  for (let at = 0; at < bytes.length; at++) {
    const bad = bytes.slice();
    bad[at] = bad[at]! ^ 0x01;
    const file = fs.open("/db/MANIFEST", { write: true, truncate: true });
    file.writeAt(bad, 0);
    file.close();
    const loaded = loadManifests(fs, "/db")!;
    assertEquals([loaded.source, loaded.state.flushedSeq], ["previous", 2], `byte ${at}`);
    assert(loaded.currentProblem?.includes("/db/MANIFEST"), loaded.currentProblem);
    assertEquals(loaded.currentBytes, bad);
  }
  fs.remove("/db/MANIFEST");
  assertEquals(loadManifests(fs, "/db")?.source, "previous");
  const prev = fs.open("/db/MANIFEST.prev", { write: true });
  prev.writeAt(new Uint8Array([0x58]), 3);
  prev.close();
  const err = assertThrows(() => loadManifests(fs, "/db"), CorruptionError);
  assert(err.message.includes("/db/MANIFEST is missing"), err.message);
  assert(err.message.includes("bad magic at offset 0 in /db/MANIFEST.prev"), err.message);
  fs.remove("/db/MANIFEST.prev");
  assertEquals(loadManifests(fs, "/db"), undefined);
});

Deno.test("ManifestStore.save() crashed at every sync and rename: the copies hold (N, N−1), (N, N) or (N+1, N)", () => {
  for (const kind of ["sync", "rename"] as const) {
    for (let k = 1; k <= (kind === "sync" ? 4 : 2); k++) {
      for (const torn of [false, true]) {
        const { fs, store } = storeAt(5);
        fs.failAfter({ [kind]: k });
        assertThrows(() => store.save(state(6)));
        fs.heal();
        let seed = k;
        fs.powerLoss(torn ? () => ((seed = (seed * 48271) % 2147483647) / 2147483647) : undefined);
        const loaded = loadManifests(fs, "/db")!;
        const pair = [loaded.state.flushedSeq, loaded.previous?.flushedSeq];
        assert(
          [[5, 4], [5, 5], [6, 5]].some(([a, b]) => a === pair[0] && b === pair[1]),
          `${kind} ${k} torn ${torn}: ${pair}`,
        );
      }
    }
  }
});
