/**
 * The `--remote-write` flags on the command line: refused when malformed (exit 2, the flag
 * named), and kept, every one of them, in a systemd unit made by `cityhall service print`.
 */

import { assert, assertEquals } from "@std/assert";
import { assertHas, runCli } from "../cli/_helpers.ts";

Deno.test("serve refuses bad --remote-write flags with exit 2", async () => {
  for (
    const [args, message] of [
      [
        ["--remote-write", "ftp://x/"],
        'invalid --remote-write "ftp://x/": use http:// or https://',
      ],
      [["--remote-write", "not a url"], 'invalid --remote-write "not a url": not a URL'],
      [["--remote-write-rollups-only"], "need --remote-write URL"],
      [
        ["--remote-write", "http://a/", "--remote-write-filter", "x!=y"],
        "invalid --remote-write-filter",
      ],
      [
        ["--remote-write", "http://a/", "--remote-write", "http://a/"],
        "the same URL is given twice",
      ],
    ] as const
  ) {
    const r = await runCli(["serve", "--data-dir", "/nonexistent/x", ...args]);
    assertEquals(r.code, 2, r.stderr);
    assertHas(r.stderr, message);
  }
});

Deno.test("service print keeps every --remote-write URL in the unit", async () => {
  const r = await runCli([
    "service",
    "print",
    "--exec",
    "/usr/local/bin/cityhall",
    "--remote-write",
    "http://vm-1:8428/api/v1/write",
    "--remote-write",
    "http://vm-2:8428/api/v1/write",
    "--remote-write-rollups-only",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const exec = r.stdout.split("\n").find((l) => l.startsWith("ExecStart=")) ?? "";
  assert(exec !== "", r.stdout);
  assertHas(
    exec,
    "--remote-write http://vm-1:8428/api/v1/write --remote-write http://vm-2:8428/api/v1/write",
  );
  assertHas(exec, "--remote-write-rollups-only");
});
