/**
 * ARCHITECTURE.md is the map: every source or test file that points into it with
 * `ARCHITECTURE.md § "Heading"` (or `ARCHITECTURE.md, "Heading"`) must name a heading that
 * exists, so the pointers cannot silently rot when a section is renamed.
 */

import { assertEquals } from "@std/assert";

const ROOT = new URL("../", import.meta.url);

function headings(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    out.add(m[1]!);
    // "## RESP server (`src/server/`)" may be cited as "RESP server".
    const short = m[1]!.replace(/\s+\([^)]*\)$/, "");
    if (short !== m[1]!) out.add(short);
  }
  return out;
}

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sourceFiles(url);
    else if (/\.(ts|js|md)$/.test(entry.name)) yield url;
  }
}

/** The headings a file's text points at, with comment markers and line breaks folded away. */
export function references(text: string): string[] {
  const folded = text.replace(/\n\s*(\*|\/\/)?\s*/g, " ");
  const out: string[] = [];
  const re = /ARCHITECTURE\.md(?:,| §§?) *((?:"[^"]+"(?:,? (?:and )?)?)+)/g;
  for (const m of folded.matchAll(re)) {
    for (const q of m[1]!.matchAll(/"([^"]+)"/g)) out.push(q[1]!);
  }
  return out;
}

Deno.test("every ARCHITECTURE.md § reference in src/, tests/ and bench/ names an existing heading", async () => {
  const known = headings(await Deno.readTextFile(new URL("ARCHITECTURE.md", ROOT)));
  const missing: string[] = [];
  for (const dir of ["src/", "tests/", "bench/"]) {
    for await (const file of sourceFiles(new URL(dir, ROOT))) {
      if (file.pathname.endsWith("architecture_test.ts")) continue;
      for (const ref of references(await Deno.readTextFile(file))) {
        if (!known.has(ref)) {
          missing.push(`${file.pathname.slice(new URL(ROOT).pathname.length)}: "${ref}"`);
        }
      }
    }
  }
  assertEquals(missing, [], "references to headings that do not exist");
});

Deno.test("references() folds comment line breaks and reads every quoted heading", () => {
  assertEquals(references('See ARCHITECTURE.md § "WAL".'), ["WAL"]);
  assertEquals(references(' * Structure: ARCHITECTURE.md\n * § "Memtable" and more'), ["Memtable"]);
  assertEquals(references('ARCHITECTURE.md, "Table layout", and'), ["Table layout"]);
  assertEquals(references('ARCHITECTURE.md §§ "A" and "B"'), ["A", "B"]);
});
