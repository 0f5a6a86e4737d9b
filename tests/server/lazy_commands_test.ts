/**
 * The command groups loaded on first use (`src/server/commands/mod.ts`): their stubs carry
 * exactly the metadata of the real commands (`_lazy_specs.ts` is written from the groups'
 * tables: run this file with CITYHALL_WRITE_LAZY_SPECS=1 after changing a command's metadata),
 * and a server runs a command of a group not loaded yet exactly as it would once loaded.
 */

import type { Buffer } from "node:buffer";
import { assert, assertEquals } from "@std/assert";
import type { CommandSpec } from "../../src/server/context.ts";
import { buildCommandTable, LAZY_GROUPS } from "../../src/server/commands/mod.ts";
import {
  LAZY_SPECS,
  type LazyGroup,
  type LazySpec,
} from "../../src/server/commands/_lazy_specs.ts";
import { withDeadline } from "../_helpers/fuzz.ts";
import { closeRedis, command, connectRedis, RawClient, startTestServer } from "./_helpers.ts";

const SPECS_FILE = new URL("../../src/server/commands/_lazy_specs.ts", import.meta.url);

/** The metadata of `spec` as `_lazy_specs.ts` writes it. */
function metaOf(spec: CommandSpec): LazySpec {
  const meta: LazySpec = [
    spec.name,
    spec.arity,
    spec.flags.join(" "),
    spec.firstKey,
    spec.lastKey,
    spec.step,
    spec.group,
    spec.since,
    spec.summary,
  ];
  if (spec.subcommands !== undefined) meta.push({ ...spec.subcommands });
  return meta;
}

/** The text of `_lazy_specs.ts` for the groups' real tables. */
async function specsFileText(): Promise<string> {
  const groups: string[] = [];
  for (const [group, load] of Object.entries(LAZY_GROUPS)) {
    const rows = (await load()).map((s) => `    ${JSON.stringify(metaOf(s))},`);
    groups.push(`  ${group}: [\n${rows.join("\n")}\n  ],`);
  }
  return `/**
 * The metadata of the commands whose groups are loaded on first use (\`mod.ts\`), one row per
 * command: name, arity, flags (space-separated), first key, last key, key step, group, since,
 * summary, and the subcommands' arities when it has any. WRITTEN by
 * tests/server/lazy_commands_test.ts from the groups' own tables (run it with
 * CITYHALL_WRITE_LAZY_SPECS=1), which fails while this file differs from them: do not edit.
 *
 * @module
 */

/** A command's metadata: see the module's doc. */
export type LazySpec = [
  name: string,
  arity: number,
  flags: string,
  firstKey: number,
  lastKey: number,
  step: number,
  group: string,
  since: string,
  summary: string,
  subcommands?: Readonly<Record<string, number>>,
];

/** A group loaded on first use. */
export type LazyGroup =
${Object.keys(LAZY_GROUPS).map((g) => `  | ${JSON.stringify(g)}`).join("\n")};

/** Each group's commands, in their table's order. */
export const LAZY_SPECS: Readonly<Record<LazyGroup, readonly LazySpec[]>> = {
${groups.join("\n")}
};
`;
}

Deno.test("_lazy_specs.ts holds the metadata of the lazily loaded groups' real commands", async () => {
  const want = await specsFileText();
  if (Deno.env.get("CITYHALL_WRITE_LAZY_SPECS") === "1") {
    await Deno.writeTextFile(SPECS_FILE, want);
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", SPECS_FILE.pathname],
      stdout: "null",
      stderr: "null",
    }).output();
    assert(fmt.success, "deno fmt of the written file");
  }
  for (
    const [group, load] of Object.entries(LAZY_GROUPS) as [
      LazyGroup,
      () => Promise<CommandSpec[]>,
    ][]
  ) {
    assertEquals(
      LAZY_SPECS[group],
      (await load()).map(metaOf),
      `${group}: rerun this test with CITYHALL_WRITE_LAZY_SPECS=1`,
    );
  }
});

Deno.test("the command table's stubs become the real commands, in place, on first use", async () => {
  const table = buildCommandTable();
  const names = [...table.keys()];
  const hset = table.get("hset")!;
  const load = hset.load;
  if (load === undefined) throw new Error("HSET is a stub before its group loads");
  await load();
  await load(); // Loading twice changes nothing.
  const loaded = table.get("hset")!;
  assertEquals(loaded.load, undefined);
  assertEquals(metaOf(loaded), metaOf(hset));
  assertEquals([...table.keys()], names, "the table's order (COMMAND's) stays");
  assert(table.get("hget")!.load === undefined, "the whole group loaded");
  assert(table.get("lpush")!.load !== undefined, "other groups still stubs");
});

Deno.test("a server answers the first command of each lazily loaded group as a loaded one", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const error = (p: Promise<unknown>) => p.then(() => "no error", (e: Error) => e.message);
  try {
    // Inside MULTI first: queued from a stub, run by EXEC from the loaded group.
    assertEquals(await r.multi().call("HSET", "h", "f", "v").call("HGET", "h", "f").exec(), [
      [null, 1],
      [null, "v"],
    ]);
    // Wrong arity and wrong type from a stub: the loaded command's errors.
    assertEquals(
      await error(r.call("LPUSH", "l")),
      "ERR wrong number of arguments for 'lpush' command",
    );
    assert((await error(r.call("SADD", "h", "m"))).startsWith("WRONGTYPE"));
    assertEquals(await r.call("ZADD", "z", "1", "a"), 1);
    assertEquals(await r.call("ZRANGE", "z", "0", "-1"), ["a"]);
    assertEquals(await r.call("SETBIT", "b", "7", "1"), 0);
    assertEquals(await r.call("BITCOUNT", "b"), 1);
    assertEquals(await r.call("TS.ADD", "t", "1000", "2.5"), 1000);
    assertEquals(await r.call("TS.GET", "t"), [1000, "2.5"]);
    assertEquals(
      await r.call("RESTORE", "z2", "0", (await r.callBuffer("DUMP", "z")) as Buffer),
      "OK",
    );
    assertEquals(await r.call("OBJECT", "ENCODING", "z2"), "listpack");
    assertEquals(await r.call("PUBSUB", "NUMPAT"), 0);
  } finally {
    await closeRedis(r);
    await t.close();
  }
});

Deno.test("a blocking command that loads its group waits without holding a transaction off", async () => {
  // The connection tells a blocking command from one that holds the transaction gate by the
  // name the dispatcher records: recorded only after the load, BLPOP counted as running in the
  // gate while it waited, and the EXEC whose push should serve it waited for it forever.
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  const raw = await RawClient.connect(t.port);
  try {
    await raw.send(command("BLPOP", "q", "0"));
    const deadline = Date.now() + 60_000;
    while (!/cmd=blpop/.test(String(await r.call("CLIENT", "LIST")))) {
      if (Date.now() > deadline) throw new Error("BLPOP never blocked");
      await new Promise((res) => setTimeout(res, 10));
    }
    assertEquals(
      await withDeadline(r.multi().rpush("q", "v").exec(), 60_000, "EXEC beside a blocked BLPOP"),
      [[null, 1]],
    );
    assertEquals(
      await raw.readUntil((s) => s.endsWith("v\r\n")),
      "*2\r\n$1\r\nq\r\n$1\r\nv\r\n",
    );
  } finally {
    raw.close();
    await closeRedis(r);
    await t.close();
  }
});
