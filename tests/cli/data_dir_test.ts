/**
 * Every command that opens a data directory says in one line, naming the path and the cause,
 * when it cannot create or write it, and exits 1: a path under a regular file (ENOTDIR), a
 * read-only directory (EACCES) and a file system that refuses (EPERM/EROFS under /sys).
 *
 * The tests run as root (so does CI), and root ignores a directory's mode. The EACCES cases
 * therefore run the program under `setpriv` with an empty capability bounding set: still uid
 * 0, but without CAP_DAC_OVERRIDE, so a 0555 directory refuses writes as it would for any
 * user.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { assertHas, type CliResult, runCli, tempDir } from "./_helpers.ts";

/** The commands that open a data directory, with what each needs beside `--data-dir`. */
const COMMANDS: [string, string[]][] = [
  ["serve", ["serve", "--port", "0", "--http-port", "0"]],
  ["leader", ["leader", "--port", "0", "--http-port", "0", "--replication-port", "0"]],
  ["replica", ["replica", "--leader", "127.0.0.1:1", "--port", "0", "--http-port", "0"]],
  ["put", ["put", "--direct", "k", "v"]],
  ["get", ["get", "--direct", "k"]],
  ["del", ["del", "--direct", "k"]],
  ["scan", ["scan", "--direct", "k"]],
];

/** Runs deno without any capability: root that obeys file modes. */
const NO_CAPS = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"];

/** A daemon that starts by mistake is killed, so the test fails instead of hanging. */
const BOUNDED = { killAfterMs: 60_000 };

/** Sets the mode of every directory and file under `root` (the root included). */
async function chmodTree(root: string, modes: { dir: number; file: number }): Promise<void> {
  for await (const entry of Deno.readDir(root)) {
    const path = `${root}/${entry.name}`;
    if (entry.isDirectory) await chmodTree(path, modes);
    else await Deno.chmod(path, modes.file);
  }
  await Deno.chmod(root, modes.dir);
}

function assertOneLine(r: CliResult, command: string, dir: string, codes: RegExp): void {
  const what = `${command}: ${r.stderr}`;
  assertEquals(r.code, 1, what);
  assertEquals(r.stderr.split("\n").length, 2, `one line expected, got ${what}`);
  assert(!/\n\s+at /.test(r.stderr), `stack trace in ${what}`);
  assertHas(r.stderr, `cityhall ${command}: Cannot open data directory ${dir}: `);
  assertMatch(r.stderr, codes);
}

Deno.test("cityhall commands name the file in the way when the data directory is under a file (ENOTDIR)", async () => {
  const [root, cleanup] = await tempDir();
  try {
    await Deno.writeTextFile(`${root}/file`, "not a directory");
    const dir = `${root}/file/data`;
    for (const [name, args] of COMMANDS) {
      const r = await runCli([...args, "--data-dir", dir], BOUNDED);
      assertOneLine(r, name, dir, /\(ENOTDIR at \w+ \S+\)/);
      assertHas(r.stderr, `${root}/file is a file`);
    }
    const r = await runCli(["replica", "status", "--data-dir", dir]);
    assertOneLine(r, "replica status", dir, /ENOTDIR/);
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall commands report a read-only data directory in one line (EACCES)", async () => {
  const [root, cleanup] = await tempDir();
  try {
    // A directory cityhall may not create its data directory in.
    await Deno.mkdir(`${root}/ro`, { mode: 0o555 });
    await Deno.chmod(`${root}/ro`, 0o555);
    // An existing database whose directory became read-only.
    const existing = `${root}/db`;
    assertEquals((await runCli(["put", "--direct", "--data-dir", existing, "k", "v"])).code, 0);
    await chmodTree(existing, { dir: 0o555, file: 0o444 });
    for (const dir of [`${root}/ro/data`, existing]) {
      for (const [name, args] of COMMANDS) {
        if (dir === `${root}/ro/data` && ["get", "del", "scan"].includes(name)) continue;
        const r = await runCli([...args, "--data-dir", dir], { wrapper: NO_CAPS, ...BOUNDED });
        assertOneLine(r, name, dir, /permission denied \(EACCES at \w+ \S+\)/);
        assertHas(r.stderr, "choose another --data-dir");
      }
    }
    // A replica status file nobody may read.
    const replica = `${root}/replica`;
    await Deno.mkdir(`${replica}/replication`, { recursive: true });
    await Deno.writeTextFile(`${replica}/replication/status.json`, "{}", { mode: 0o000 });
    await Deno.chmod(`${replica}/replication/status.json`, 0o000);
    const r = await runCli(["replica", "status", "--data-dir", replica], { wrapper: NO_CAPS });
    assertOneLine(r, "replica status", replica, /EACCES/);
  } finally {
    await chmodTree(`${root}/db`, { dir: 0o755, file: 0o644 }).catch(() => {});
    await cleanup();
  }
});

Deno.test("cityhall commands report a file system that refuses the data directory (EPERM/EROFS)", async () => {
  // sysfs refuses mkdir to everyone, root included: EPERM, or EROFS where /sys is read-only.
  const dir = "/sys/cityhall-data-dir-test";
  for (const [name, args] of COMMANDS) {
    if (["get", "del", "scan"].includes(name)) continue; // Nothing to open: "no database".
    const r = await runCli([...args, "--data-dir", dir], BOUNDED);
    assertOneLine(r, name, dir, /\((EPERM|EROFS) at mkdir \/sys\/cityhall-data-dir-test\)/);
  }
});

Deno.test("cityhall get/del/scan on a data directory that is a file or missing say so in one line", async () => {
  const [root, cleanup] = await tempDir();
  try {
    await Deno.writeTextFile(`${root}/file`, "x");
    let r = await runCli(["get", "--direct", "--data-dir", `${root}/file`, "k"]);
    assertEquals([r.code, r.stderr], [
      1,
      `cityhall get: Cannot open data directory ${root}/file: it is a file\n`,
    ]);
    r = await runCli(["scan", "--direct", "--data-dir", `${root}/missing`, "k"]);
    assertEquals([r.code, r.stderr], [
      1,
      `cityhall scan: No database exists at ${root}/missing (pass --data-dir)\n`,
    ]);
  } finally {
    await cleanup();
  }
});
