/**
 * What the README and the lsm-kv-store seed promise: `serve --replication-port` is `leader`,
 * `rm` deletes like `del`, `cityhall version`, and a piped `get` prints a complete line (like
 * redis-cli) with `--no-newline` for the exact bytes.
 */

import { assert, assertEquals } from "@std/assert";
import { VERSION } from "../../src/version.ts";
import { assertHas, MAIN, runCli, startServe, tempDir } from "./_helpers.ts";
import { runChild } from "../_helpers/child.ts";

Deno.test("cityhall version and --version print the version", async () => {
  for (const args of [["version"], ["--version"], ["-V"]]) {
    const r = await runCli(args);
    assertEquals([r.code, r.stdout, r.stderr], [0, `cityhall ${VERSION}\n`, ""], args.join(" "));
  }
  const r = await runCli(["version", "extra"]);
  assertEquals(r.code, 2);
  assertHas((await runCli(["--help"])).stdout, "version");
});

Deno.test("cityhall rm deletes keys like del, directly and through a server", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const d = ["--direct", "--data-dir", dir];
    assertEquals((await runCli(["put", ...d, "a", "1"])).code, 0);
    assertEquals((await runCli(["put", ...d, "b", "2"])).code, 0);
    let r = await runCli(["rm", ...d, "a", "missing"]);
    assertEquals([r.code, r.stdout], [0, "1\n"], r.stderr);
    const serve = await startServe(dir);
    try {
      r = await runCli(["client", "--port", String(serve.port), "rm", "b"]);
      assertEquals([r.code, r.stdout], [0, "1\n"], r.stderr);
      r = await runCli(["rm", "--port", String(serve.port), "b"]);
      assertEquals([r.code, r.stdout], [0, "0\n"], r.stderr);
    } finally {
      assertEquals(await serve.stop(), 0);
    }
    assertHas((await runCli(["help", "rm"])).stdout, "rm");
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall get piped prints a newline after the value; --no-newline the exact bytes", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const d = ["--direct", "--data-dir", dir];
    assertEquals((await runCli(["put", ...d, "k", "21.5"])).code, 0);
    // The shell loop the issue names: `read` needs the newline to see the line.
    const script = `"$0" run -A --quiet "$1" get --direct --data-dir "$2" k | ` +
      `while read v; do echo "got $v"; done`;
    const out = await runChild("sh", ["-c", script, Deno.execPath(), MAIN, dir]);
    assertEquals(out.stdout, "got 21.5\n");
    let r = await runCli(["get", ...d, "k"]);
    assertEquals(r.stdout, "21.5\n");
    r = await runCli(["get", ...d, "--no-newline", "k"]);
    assertEquals([r.code, r.stdout], [0, "21.5"]);
    // Binary-safe: a value ending in a newline comes back byte for byte.
    assertEquals((await runCli(["put", ...d, "nl", "line\n"])).code, 0);
    r = await runCli(["get", ...d, "--no-newline", "nl"]);
    assertEquals(r.stdoutBytes, new TextEncoder().encode("line\n"));
    r = await runCli(["scan", ...d, "--no-newline", "k"]);
    assertEquals(r.code, 2);
    assertHas(r.stderr, "--no-newline applies to get only");
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall serve --replication-port runs a leader that a replica follows", async () => {
  const [root, cleanup] = await tempDir();
  const leader = await startServe(`${root}/leader`, ["--replication-port", "0"]);
  let replica: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const replication = /replication=\S+:(\d+)/.exec(leader.log())?.[1];
    assert(replication !== undefined, leader.log());
    assertHas(leader.log(), "role=leader");
    replica = await startServe(`${root}/replica`, ["--leader", `127.0.0.1:${replication}`], {
      command: "replica",
    });
    const r = await runCli(["client", "--port", String(leader.port), "put", "k", "v"]);
    assertEquals(r.code, 0, r.stderr);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const g = await runCli(["client", "--port", String(replica.port), "get", "k"]);
      if (g.stdout === "v\n") break;
      assert(Date.now() < deadline, `the replica never got the key:\n${replica.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    if (replica !== undefined) assertEquals(await replica.stop(), 0);
    assertEquals(await leader.stop(), 0);
    await cleanup();
  }
  const help = await runCli(["serve", "--help"]);
  for (
    const flag of ["--replication-port", "--replication-bind", "--replication-retention-max-bytes"]
  ) {
    assertHas(help.stdout, flag);
  }
});
