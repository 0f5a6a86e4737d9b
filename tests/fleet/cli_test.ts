/**
 * The fleet's command line with real processes: site tokens shown once and stored as hashes,
 * flag errors, `uplink status` of a stopped edge, and sneakernet (`export` from a stopped
 * edge, `hub import` twice, a damaged file refused whole, the live uplink continuing after).
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { decodePosition, positionKey } from "../../src/fleet/namespace.ts";
import { RespClient } from "../../src/cli/resp_client.ts";
import { freePort, runCli } from "../cli/_helpers.ts";
import { contentOf, contentUnder, removeDir } from "./_helpers.ts";
import { addSiteCli, spawnEdge, spawnHub } from "./_procs.ts";

async function put(port: number, pairs: [string, string][]): Promise<void> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    for (const [k, v] of pairs) {
      const reply = await client.command(["SET", k, v]);
      assertEquals(reply.kind, "simple");
    }
  } finally {
    client.close();
  }
}

Deno.test("cli: hub site add prints a token once and stores only its hash; list, reset, remove", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-hubcli-" });
  try {
    const add = await runCli(["hub", "site", "add", "store1", "--data-dir", dir]);
    assertEquals(add.code, 0, add.stderr);
    const token = add.stdout.trim();
    assertMatch(token, /^[A-Za-z0-9_-]{43}$/);
    assertStringIncludes(add.stderr, "shown only this once");
    const file = await Deno.readTextFile(`${dir}/hub/sites.json`);
    assert(!file.includes(token), "the token itself is not stored");
    assertEquals((await Deno.stat(`${dir}/hub/sites.json`)).mode! & 0o777, 0o600);
    const again = await runCli(["hub", "site", "add", "store1", "--data-dir", dir]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "store1 exists");
    const bad = await runCli(["hub", "site", "add", "no/slash", "--data-dir", dir]);
    assertEquals(bad.code, 1);
    assertStringIncludes(bad.stderr, "invalid site name");
    const list = await runCli(["hub", "site", "list", "--data-dir", dir]);
    assertEquals(list.code, 0);
    assertMatch(list.stdout, /store1\s+never seen/);
    const json = JSON.parse(
      (await runCli(["hub", "site", "list", "--data-dir", dir, "--json"])).stdout,
    );
    assertEquals(json.sites[0].name, "store1");
    assertEquals(json.sites[0].edgeId, null);
    assertEquals((await runCli(["hub", "site", "reset", "store1", "--data-dir", dir])).code, 0);
    assertEquals((await runCli(["hub", "site", "remove", "store1", "--data-dir", dir])).code, 0);
    const gone = await runCli(["hub", "site", "remove", "store1", "--data-dir", dir]);
    assertEquals(gone.code, 1);
    assertStringIncludes(gone.stderr, "no site store1");
  } finally {
    await removeDir(dir);
  }
});

Deno.test("cli: serve's uplink flags are checked before anything starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-upflags-" });
  try {
    await Deno.writeTextFile(`${dir}/t`, "x".repeat(43));
    const cases: [string[], string][] = [
      [["--site", "a"], "--site needs --uplink"],
      [["--uplink", "h:1"], "--uplink needs --site"],
      [
        ["--uplink", "nohost", "--site", "a", "--uplink-token-file", `${dir}/t`],
        "expected HOST:PORT",
      ],
      [["--uplink", "h:1", "--site", "a"], "--uplink needs --uplink-token-file"],
      [[
        "--uplink",
        "h:1",
        "--site",
        "a",
        "--uplink-token-file",
        `${dir}/t`,
        "--uplink-rate-limit",
        "fast",
      ], "invalid --uplink-rate-limit"],
      [[
        "--uplink",
        "h:1",
        "--site",
        "a",
        "--uplink-token-file",
        `${dir}/t`,
        "--uplink-window",
        "25:00-26:00",
      ], "invalid --uplink-window"],
      [[
        "--uplink",
        "h:1",
        "--site",
        "a",
        "--uplink-token-file",
        `${dir}/t`,
        "--disk-full",
        "panic",
      ], "invalid --disk-full"],
      [["--uplink", "h:1", "--replication-port", "7879"], "exclude each other"],
    ];
    for (const [args, message] of cases) {
      const out = await runCli(["serve", "--data-dir", `${dir}/d`, ...args]);
      assertEquals(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
      assertStringIncludes(out.stderr, message);
    }
  } finally {
    await removeDir(dir);
  }
});

Deno.test("cli: export from a stopped edge, hub import twice, a damaged file refused; the uplink continues after", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-sneaker-" });
  const hubDir = `${root}/hub`;
  const edgeDir = `${root}/edge`;
  const syncPort = freePort();
  const tokenFile = await addSiteCli(hubDir, "clinic", root);
  let hub = await spawnHub(hubDir, syncPort);
  let edge = await spawnEdge(edgeDir, syncPort, "clinic", tokenFile);
  try {
    await put(edge.port, [["a", "1"], ["b", "2"]]);
    await waitStatus(edgeDir, (s) => s.behindEntries === 0 && s.ackedSeq === 2);
    await hub.stop();
    // The link is down: these writes travel by USB stick.
    await put(edge.port, [["c", "3"], ["d", "4"], ["a", "5"]]);
    await edge.stop();
    const status = await runCli(["uplink", "status", "--data-dir", edgeDir]);
    assertEquals(status.code, 0, status.stderr);
    assertMatch(status.stdout, /link state:\s+stopped/);
    assertMatch(status.stdout, /behind:\s+3 entries/);
    assertMatch(status.stdout, /process:\s+not running/);
    const file = `${root}/clinic.chsync`;
    const exported = await runCli([
      "export",
      "--since-ack",
      "--data-dir",
      edgeDir,
      "--output",
      file,
    ]);
    assertEquals(exported.code, 0, exported.stderr);
    assertStringIncludes(exported.stderr, "sequences 3..5");
    // A damaged copy is refused whole: nothing from it is applied.
    const bytes = await Deno.readFile(file);
    const damaged = bytes.slice();
    damaged[damaged.length - 40] = damaged[damaged.length - 40]! ^ 0xff;
    await Deno.writeFile(`${root}/damaged.chsync`, damaged);
    const refused = await runCli(["hub", "import", `${root}/damaged.chsync`, "--data-dir", hubDir]);
    assertEquals(refused.code, 1);
    assertStringIncludes(refused.stderr, "Cannot read .chsync file");
    const first = await runCli(["hub", "import", file, "--data-dir", hubDir]);
    assertEquals(first.code, 0, first.stderr);
    assertStringIncludes(first.stdout, "3 operations applied");
    const second = await runCli(["hub", "import", file, "--data-dir", hubDir]);
    assertEquals(second.code, 0, second.stderr);
    assertStringIncludes(second.stdout, "nothing new");
    // The live uplink continues from what was imported.
    hub = await spawnHub(hubDir, syncPort);
    edge = await spawnEdge(edgeDir, syncPort, "clinic", tokenFile);
    await put(edge.port, [["e", "6"]]);
    await waitStatus(edgeDir, (s) => s.ackedSeq === 6 && s.behindEntries === 0);
    await edge.stop();
    await hub.stop();
    const hubDb = await Database.open(hubDir);
    const edgeDb = await Database.open(edgeDir);
    try {
      assertEquals(await contentUnder(hubDb, "clinic/"), await contentOf(edgeDb));
      assertEquals(decodePosition(hubDb.getEntry(positionKey("clinic"))!.value)!.seq, 6);
      // The edge never re-sent what the file carried: its link picked up at sequence 6.
      assert(!edge.log().includes("snapshot"));
    } finally {
      await hubDb.close();
      await edgeDb.close();
    }
  } finally {
    await edge.stop("SIGKILL");
    await hub.stop("SIGKILL");
    await removeDir(root);
  }
});

/** Polls `cityhall uplink status --json` until `ok` holds (bounded). */
async function waitStatus(
  dir: string,
  ok: (s: { ackedSeq: number; behindEntries: number }) => boolean,
): Promise<void> {
  let last = "";
  for (let i = 0; i < 300; i++) {
    const out = await runCli(["uplink", "status", "--data-dir", dir, "--json"]);
    last = out.stdout + out.stderr;
    if (out.code === 0 && ok(JSON.parse(out.stdout))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`uplink status never matched: ${last}`);
}
