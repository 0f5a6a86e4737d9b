/**
 * ARCHITECTURE.md § "Layering": each directory of `src/` imports only from lower layers, and a
 * `_x.ts` file only from its own directory. The table of contents lists every `##` section.
 */

import { assertEquals } from "@std/assert";

const SRC = new URL("../src/", import.meta.url);

/** The layer of each directory of `src/` (ARCHITECTURE.md § "Layering"). */
const LAYERS: Record<string, number> = {
  util: 0,
  fs: 1,
  metrics: 1,
  wal: 2,
  memtable: 2,
  sstable: 2,
  manifest: 3,
  compaction: 4,
  engine: 5,
  keyspace: 6,
  replication: 6,
  verify: 6,
  timeseries: 7,
  types: 7,
  salvage: 7,
  promql: 8,
  ingest: 8,
  export: 9,
  server: 10,
  console: 10,
  http: 11,
  fleet: 11,
  agent: 12,
  cli: 13,
};

async function* files(dir: URL, rel = ""): AsyncGenerator<[string, string]> {
  for await (const e of Deno.readDir(dir)) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) yield* files(new URL(`${e.name}/`, dir), path);
    else if (e.name.endsWith(".ts")) yield [path, await Deno.readTextFile(new URL(e.name, dir))];
  }
}

Deno.test("every src/ directory imports only from lower layers, and _private files stay private", async () => {
  const wrong: string[] = [];
  for await (const [path, text] of files(SRC)) {
    const parts = path.split("/");
    if (parts.length < 2) continue; // main.ts, mod.ts, errors.ts, limits.ts, version.ts
    const dir = parts[0]!;
    const layer = LAYERS[dir];
    if (layer === undefined) {
      wrong.push(`${path}: directory ${dir} has no layer in ARCHITECTURE.md § "Layering"`);
      continue;
    }
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.\.?\/[^"]+)"/g)) {
      const target = new URL(m[1]!, new URL(path, SRC)).pathname.slice(SRC.pathname.length);
      const tparts = target.split("/");
      if (tparts.length < 2) continue;
      const tdir = tparts[0]!;
      const name = tparts[tparts.length - 1]!;
      if (name.startsWith("_") && tparts.slice(0, -1).join("/") !== parts.slice(0, -1).join("/")) {
        wrong.push(`${path} imports private ${target}`);
      }
      if (tdir === dir) continue;
      const tlayer = LAYERS[tdir];
      if (tlayer === undefined || tlayer >= layer) {
        wrong.push(`${path} (layer ${layer}) imports ${target} (layer ${tlayer})`);
      }
    }
  }
  assertEquals(wrong, []);
});

Deno.test("ARCHITECTURE.md's contents list every ## section", async () => {
  const text = await Deno.readTextFile(new URL("../ARCHITECTURE.md", import.meta.url));
  let fenced = false;
  const sections: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    if (!fenced && line.startsWith("## ") && line !== "## Contents") sections.push(line.slice(3));
  }
  const contents = [...text.matchAll(/^- \[(.+)\]\(#[^)]*\)$/gm)].map((m) => m[1]!);
  assertEquals(contents, sections);
});
