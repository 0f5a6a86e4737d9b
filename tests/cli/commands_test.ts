/**
 * The command line as a whole: `--help` of every command, `--version`, unknown commands and
 * flags, and `cityhall service`.
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { VERSION } from "../../src/version.ts";
import { assertHas, runCli, tempDir } from "./_helpers.ts";

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
    [["service", "--help"], ["print", "install", "uninstall", "--unit-path", "--user"]],
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

Deno.test("cityhall service print writes a systemd unit that runs serve on the data dir", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    const r = await runCli([
      "service",
      "--data-dir",
      `${dir}/my data`,
      "--port",
      "7000",
      "--sync",
      "interval:50",
      "--user",
      "cityhall",
    ]);
    assertEquals(r.code, 0, r.stderr);
    const exec = r.stdout.split("\n").find((l) => l.startsWith("ExecStart="));
    assert(exec !== undefined, r.stdout);
    assertMatch(exec, / serve --data-dir "[^"]*\/my data" --port 7000 --sync interval:50$/);
    // Running from source: the unit runs deno with this main module.
    assertMatch(exec, / run -A \S*src\/main\.ts serve /);
    for (
      const line of [
        "Type=simple",
        "Restart=on-failure",
        "User=cityhall",
        "LimitNOFILE=65536",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "WantedBy=multi-user.target",
      ]
    ) {
      assertHas(r.stdout, line + "\n");
    }
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall service install and uninstall write and remove the unit file", async () => {
  const [dir, cleanup] = await tempDir();
  const unit = `${dir}/cityhall-test.service`;
  try {
    let r = await runCli(["service", "install", "--unit-path", unit, "--data-dir", dir]);
    assertEquals(r.code, 0, r.stderr);
    assertHas(r.stdout, "systemctl daemon-reload && systemctl enable --now cityhall-test");
    assertHas(await Deno.readTextFile(unit), `--data-dir ${dir}`);
    r = await runCli(["service", "uninstall", "--unit-path", unit]);
    assertEquals(r.code, 0, r.stderr);
    assertHas(r.stdout, "systemctl disable --now cityhall-test");
    assertEquals(await Deno.stat(unit).then(() => true, () => false), false);
    r = await runCli(["service", "uninstall", "--unit-path", unit]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, "no such file");
  } finally {
    await cleanup();
  }
});

Deno.test("cityhall service refuses serve settings serve would refuse", async () => {
  const r = await runCli(["service", "print", "--bind", "0.0.0.0"]);
  assertEquals(r.code, 2);
  assertHas(r.stderr, "--insecure-no-auth");
});
