/**
 * The command line as a whole: `--help` of every command, `--version`, unknown commands and
 * flags (`cityhall service` is in service_test.ts).
 */

import { assertEquals } from "@std/assert";
import { VERSION } from "../../src/version.ts";
import { assertHas, runCli } from "./_helpers.ts";

Deno.test("cityhall --help of every command exits 0 and names its flags", async () => {
  const cases: [string[], string[]][] = [
    [["--help"], ["serve", "client", "service", "selftest", "put", "get", "del", "scan"]],
    [["serve", "--help"], [
      "--data-dir",
      "--bind",
      "--port",
      "--http-port",
      "--no-http",
      "--auth-token-file",
      "--tls-cert",
      "--tls-key",
      "--sync",
      "--memtable-mb",
      "--cache-mb",
      "--row-cache-mb",
      "--max-clients",
      "--idle-timeout-s",
      "--log-level",
      "--insecure-no-auth",
      "7878",
      "7880",
    ]],
    [["client", "-h"], ["--host", "--port", "--auth-token-file", "--json", "--limit", "BATCH"]],
    [["put", "--help"], ["--data-dir", "--direct", "--host", "--port", "--json"]],
    [["get", "--help"], ["--data-dir"]],
    [["del", "--help"], ["--data-dir"]],
    [["scan", "--help"], ["--limit"]],
    [["service", "--help"], [
      "print",
      "install",
      "uninstall",
      "--role",
      "--exec",
      "--deno",
      "--unit-path",
      "--user",
      "--leader",
      "--replication-port",
    ]],
    [["selftest", "--help"], ["temporary directory"]],
    [["help", "serve"], ["--bind"]],
  ];
  for (const [args, words] of cases) {
    const r = await runCli(args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    for (const w of words) assertHas(r.stdout, w);
  }
});

Deno.test("cityhall --version prints the version", async () => {
  const r = await runCli(["--version"]);
  assertEquals([r.code, r.stdout], [0, `cityhall ${VERSION}\n`]);
});

Deno.test("cityhall: an unknown command or flag exits 2 with a clear message", async () => {
  let r = await runCli(["frobnicate"]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr, "cityhall: unknown command 'frobnicate' (see cityhall --help)\n");
  r = await runCli(["serve", "--prot", "1"]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr, "cityhall serve: unknown flag --prot (see cityhall serve --help)\n");
  r = await runCli(["get", "--data-dirr", "/tmp", "k"]);
  assertEquals(r.code, 2);
  assertHas(r.stderr, "unknown flag --data-dirr");
  r = await runCli(["service", "explode"]);
  assertEquals(r.code, 2);
});
