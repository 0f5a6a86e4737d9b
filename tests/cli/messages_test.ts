/**
 * Users get numbers and flag names, never internal constant names: no string in src/ names a
 * constant like `HTTP_LIST_LIMIT_MAX` (interpolating its value, `${HTTP_LIST_LIMIT_MAX}`, is
 * the point). Comments and `assert` messages (programmer errors) are exempt, and so are the
 * environment variables users set (`CITYHALL_…`).
 */

import { assert, assertEquals } from "@std/assert";
import { HTTP_LIST_LIMIT_MAX, KEY_SIZE_BYTES_MAX } from "../../src/limits.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { Database } from "../../src/mod.ts";
import { assertHas, runCli, tempDir } from "./_helpers.ts";

const SRC = new URL("../../src/", import.meta.url).pathname;

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* sourceFiles(`${path}/`);
    else if (path.endsWith(".ts")) yield path;
  }
}

/** A limit's name (`HTTP_LIST_LIMIT_MAX`, `WAL_SEGMENT_SIZE_BYTES_MAX`, `…_MS`, `…_DEFAULT`). */
/** Option names users type (TS.CREATE … CHUNK_SIZE): RedisTimeSeries's errors name them. */
const COMMAND_OPTIONS = new Set(["CHUNK_SIZE"]);

const LIMIT_NAME =
  /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:MAX|MIN|BYTES|MS|S|DEFAULT|LIMIT|COUNT|SIZE)\b/g;

/** A string literal's text (interpolations left out), where it starts, and if in an assert. */
interface Literal {
  text: string;
  line: number;
  inAssert: boolean;
}

/**
 * The string literals of a TypeScript source: a small scanner that knows comments, the three
 * quotes, `${…}` inside templates and regular-expression literals, and which call each
 * literal is an argument of.
 */
function literals(source: string): Literal[] {
  const out: Literal[] = [];
  const calls: string[] = []; // The callee of each open "(" ("" for a plain parenthesis).
  const templates: number[] = []; // Brace depth at which each open `${` returns to its template.
  let braces = 0;
  let line = 1;
  let i = 0;
  let prev = ""; // Last significant character of code, to tell a regex from a division.
  const readString = (quote: string): void => {
    const startLine = line;
    let text = "";
    i++;
    while (i < source.length && source[i] !== quote) {
      if (source[i] === "\\") {
        text += source[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (quote === "`" && source[i] === "$" && source[i + 1] === "{") {
        // The template continues after the interpolation: scan the code inside first.
        out.push({ text, line: startLine, inAssert: calls.includes("assert") });
        templates.push(braces);
        braces++;
        i += 2;
        return;
      }
      if (source[i] === "\n") line++;
      text += source[i];
      i++;
    }
    i++;
    out.push({ text, line: startLine, inAssert: calls.includes("assert") });
  };
  while (i < source.length) {
    const c = source[i]!;
    if (c === "\n") line++;
    if (c === "/" && source[i + 1] === "/") {
      while (i < source.length && source[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end + 2;
      for (let j = i; j < stop; j++) if (source[j] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === "/" && (prev === "" || "(,=:[!&|?{};".includes(prev))) {
      // A regular expression literal.
      i++;
      let inClass = false;
      while (i < source.length && (source[i] !== "/" || inClass)) {
        if (source[i] === "\\") i++;
        else if (source[i] === "[") inClass = true;
        else if (source[i] === "]") inClass = false;
        i++;
      }
      i++;
      prev = "/";
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      readString(c);
      prev = "x";
      continue;
    }
    if (c === "{") braces++;
    if (c === "}") {
      braces--;
      if (templates.length > 0 && templates.at(-1) === braces) {
        templates.pop();
        readString("`"); // Back inside the template: i is on "}", read to its end.
        prev = "x";
        continue;
      }
    }
    if (c === "(") calls.push(/(\w+)\s*$/.exec(source.slice(Math.max(0, i - 40), i))?.[1] ?? "");
    if (c === ")") calls.pop();
    if (!/\s/.test(c)) prev = c;
    i++;
  }
  return out;
}

Deno.test("no message in src/ names an internal constant", async () => {
  const found: string[] = [];
  for await (const path of sourceFiles(SRC)) {
    for (const literal of literals(await Deno.readTextFile(path))) {
      if (literal.inAssert) continue; // A programmer error: the constant's name helps.
      for (const m of literal.text.matchAll(LIMIT_NAME)) {
        if (COMMAND_OPTIONS.has(m[0])) continue;
        found.push(`${path.slice(SRC.length)}:${literal.line}: ${m[0]}`);
      }
    }
  }
  assertEquals(found, []);
});

Deno.test("the literal scanner finds constant names and skips interpolations and asserts", () => {
  const source = [
    "const a = `x ${B_MAX} (limit HTTP_LIST_LIMIT_MAX = ${n})`; // C_MAX",
    'assert(ok, "within D_MAX");',
    "const r = /E_MAX/.test(s) ? 'F_BYTES' : \"g\";",
    "/* H_MAX */ const t = `${`I_MS`}`;",
  ].join("\n");
  const names = literals(source).filter((l) => !l.inAssert).flatMap((l) =>
    [...l.text.matchAll(LIMIT_NAME)].map((m) => `${l.line}:${m[0]}`)
  );
  assertEquals(names, ["1:HTTP_LIST_LIMIT_MAX", "3:F_BYTES", "4:I_MS"]);
});

Deno.test("limit errors give the number: CLI key too large, HTTP list limit", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const r = await runCli([
      "put",
      "--direct",
      "--data-dir",
      dir,
      "k".repeat(KEY_SIZE_BYTES_MAX + 1),
      "v",
    ]);
    assertEquals(r.code, 1, r.stderr);
    assertEquals(
      r.stderr,
      `cityhall: Key too large: ${
        KEY_SIZE_BYTES_MAX + 1
      } bytes (limit ${KEY_SIZE_BYTES_MAX} bytes)\n`,
    );
    const db = await Database.open(`${dir}/http`);
    const http = await startHttpServer(db, {
      hostname: "127.0.0.1",
      port: 0,
      logger: () => {},
    });
    try {
      const res = await fetch(
        `http://127.0.0.1:${http.addr.port}/v1/keys?limit=${HTTP_LIST_LIMIT_MAX + 1}`,
      );
      const body = await res.text();
      assertEquals(res.status, 400);
      assertHas(body, `must be an integer from 1 to ${HTTP_LIST_LIMIT_MAX}`);
      assert(!body.includes("_MAX"), body);
    } finally {
      await http.shutdown();
      await db.close();
    }
  } finally {
    await cleanup();
  }
});
