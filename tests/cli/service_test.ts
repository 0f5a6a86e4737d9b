/**
 * `cityhall service`: a unit for every role (serve, leader, replica) that runs a compiled
 * binary or the bundle (never the source tree), as a dynamic or named user, in a sandbox that
 * `systemd-analyze security` rates at most 4.0 (the test runs it; CI installs it).
 */

import { assert, assertEquals, assertMatch } from "@std/assert";
import { assertHas, MAIN, runCli, tempDir } from "./_helpers.ts";
import { runChild, runDeno } from "../_helpers/child.ts";

/** The binary the units below name (it need not exist for print). */
const EXEC = "/usr/local/bin/cityhall";

/** The overall exposure `systemd-analyze security --offline=true` gives `unitText`. */
async function exposure(unitText: string, name: string): Promise<number> {
  const [dir, cleanup] = await tempDir();
  try {
    const path = `${dir}/${name}.service`;
    await Deno.writeTextFile(path, unitText);
    const out = await runChild("systemd-analyze", [
      "security",
      "--offline=true",
      "--no-pager",
      path,
    ]);
    const text = out.stdout;
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(text);
    if (m === null) throw new Error(text + out.stderr);
    return Number(m[1]);
  } finally {
    await cleanup();
  }
}

/** `systemd-analyze verify` of `unitText`: the empty string when systemd accepts it. */
async function verify(unitText: string, name: string): Promise<string> {
  const [dir, cleanup] = await tempDir();
  try {
    const path = `${dir}/${name}.service`;
    await Deno.writeTextFile(path, unitText);
    const out = await runChild("systemd-analyze", ["verify", "--man=no", path]);
    return out.success ? "" : out.stderr;
  } finally {
    await cleanup();
  }
}

const ROLES: [string, string[], string][] = [
  [
    "serve",
    ["--port", "7000", "--sync", "interval:50"],
    "serve --data-dir /var/lib/cityhall --port 7000 --sync interval:50",
  ],
  [
    "leader",
    ["--role", "leader", "--replication-port", "7879", "--auth-token-file", "/etc/cityhall/token"],
    "leader --data-dir /var/lib/cityhall-leader --auth-token-file %d/auth-token --replication-port 7879",
  ],
  [
    "replica",
    [
      "--role",
      "replica",
      "--leader",
      "10.0.0.5:7879",
      "--bind",
      "0.0.0.0",
      "--auth-token-file",
      "/etc/cityhall/token",
      "--tls-ca",
      "/etc/cityhall/ca.pem",
    ],
    "replica --data-dir /var/lib/cityhall-replica --bind 0.0.0.0 --auth-token-file %d/auth-token --leader 10.0.0.5:7879 --tls-ca %d/tls-ca",
  ],
];

Deno.test("cityhall service print makes a hardened unit for every role, rated at most 4.0 by systemd-analyze", async () => {
  for (const [role, flags, exec] of ROLES) {
    const r = await runCli(["service", "print", "--exec", EXEC, ...flags]);
    assertEquals(r.code, 0, r.stderr);
    const unit = r.stdout;
    const execStart = unit.split("\n").find((l) => l.startsWith("ExecStart="));
    assertEquals(execStart, `ExecStart=${EXEC} ${exec}`);
    for (
      const line of [
        "Type=exec",
        "DynamicUser=yes",
        `StateDirectory=${role === "serve" ? "cityhall" : `cityhall-${role}`}`,
        "StateDirectoryMode=0700",
        "UMask=0077",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "KillSignal=SIGTERM",
        "RestartPreventExitStatus=2",
        "LimitNOFILE=65536",
        "WantedBy=multi-user.target",
      ]
    ) {
      assertHas(unit, `\n${line}\n`);
    }
    if (flags.includes("--auth-token-file")) {
      assertHas(unit, "\nLoadCredential=auth-token:/etc/cityhall/token\n");
    }
    assert(!unit.includes("MemoryDenyWriteExecute=yes"), "V8 needs writable code memory");
    const score = await exposure(unit, `cityhall-${role}`);
    console.log(`systemd-analyze security --offline=true: ${role} unit exposure ${score}`);
    assert(score <= 4.0, `${role}: exposure ${score} > 4.0`);
    // systemd itself accepts the unit (verify wants an ExecStart that exists).
    const accepted = await runCli(["service", "print", "--exec", "/bin/true", ...flags]);
    assertEquals(await verify(accepted.stdout, `cityhall-${role}`), "");
  }
});

Deno.test("cityhall service from the source tree refuses and says how to build a binary or bundle", async () => {
  const r = await runCli(["service", "print"]);
  assertEquals(r.code, 2);
  assertHas(r.stderr, `Cannot make a unit that runs the source tree (${MAIN})`);
  for (const hint of ["deno task compile", "deno task bundle", "--exec PATH"]) {
    assertHas(r.stderr, hint);
  }
  assertEquals(r.stdout, "");
});

/**
 * A directory the unit's sandbox does not hide (not under /tmp, /var/tmp, /root or /home), so
 * the service accepts a bundle there: the checkout's dist/ when the checkout is visible (a CI
 * clone may live under /tmp), else /opt or /srv.
 */
async function visibleRoot(): Promise<string> {
  const hidden = /^\/(tmp|var\/tmp|root|home)(\/|$)/;
  const dist = new URL("../../dist/", import.meta.url).pathname;
  for (const candidate of [dist, "/opt/", "/srv/"]) {
    if (hidden.test(candidate)) continue;
    try {
      await Deno.mkdir(candidate, { recursive: true });
      return candidate;
    } catch {
      // Not writable here: try the next one.
    }
  }
  throw new Error("no writable directory the service sandbox can see (dist/, /opt, /srv)");
}

Deno.test("cityhall service run from the bundle runs it with deno run --no-config, not the source", async () => {
  const dir = await Deno.makeTempDir({ dir: await visibleRoot(), prefix: "service-test-" });
  try {
    const bundle = `${dir}/cityhall.js`;
    const built = await runDeno([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--output",
      bundle,
      MAIN,
    ]);
    assertEquals(built.code, 0, built.stderr);
    const run = (args: string[]) =>
      runDeno(["run", "-A", "--no-config", bundle, "service", "print", ...args]);
    let out = await run(["--deno", "/usr/local/bin/deno", "--role", "leader"]);
    const text = out.stdout;
    assertEquals(out.code, 0, out.stderr);
    assertHas(
      text,
      `\nExecStart=/usr/local/bin/deno run -A --no-config ${bundle} leader --data-dir /var/lib/cityhall-leader\n`,
    );
    assertHas(text, "\nEnvironment=DENO_DIR=/var/cache/cityhall-leader\n");
    assertHas(text, "\nCacheDirectory=cityhall-leader\n");
    assert(await exposure(text, "cityhall-leader") <= 4.0);
    // This deno lives where the service cannot see it: the message says where to put it.
    if (Deno.execPath().startsWith("/root/") || Deno.execPath().startsWith("/home/")) {
      out = await run([]);
      const err = out.stderr;
      assertEquals(out.code, 2, err);
      assertMatch(err, /is under \/(root|home), which the service cannot see \(ProtectHome=yes\)/);
      assertHas(err, "--deno");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cityhall service --user runs as that user and may keep the data outside /var/lib", async () => {
  let r = await runCli([
    "service",
    "--exec",
    EXEC,
    "--user",
    "cityhall",
    "--data-dir",
    "/srv/cityhall",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertHas(r.stdout, "\nUser=cityhall\n");
  assertHas(r.stdout, "\nReadWritePaths=/srv/cityhall\n");
  assert(!r.stdout.includes("DynamicUser="), r.stdout);
  assert(await exposure(r.stdout, "cityhall") <= 4.0);
  // A dynamic user can only be given a directory under /var/lib.
  r = await runCli(["service", "--exec", EXEC, "--data-dir", "/srv/cityhall"]);
  assertEquals(r.code, 2);
  assertHas(r.stderr, "--user NAME");
  // The sandbox hides /home, /root and /tmp from the service.
  for (const dir of ["/home/pi/data", "/root/data", "/tmp/data"]) {
    r = await runCli(["service", "--exec", EXEC, "--user", "pi", "--data-dir", dir]);
    assertEquals(r.code, 2, dir);
    assertHas(r.stderr, "which the service cannot see");
  }
  r = await runCli(["service", "--exec", "/home/pi/cityhall"]);
  assertEquals(r.code, 2);
  assertHas(r.stderr, "install -m 0755 /home/pi/cityhall /usr/local/bin/cityhall");
});

Deno.test("cityhall service refuses options its role would refuse", async () => {
  const cases: [string[], string][] = [
    [["--bind", "0.0.0.0"], "--insecure-no-auth"],
    [["--role", "primary"], "invalid --role"],
    [["--leader", "h:1"], "--leader is not an option of --role serve"],
    [["--role", "replica"], "--role replica needs --leader HOST:PORT"],
    [["--role", "replica", "--leader", "nohost"], "HOST:PORT"],
    [["--role", "leader", "--replication-port", "70000"], "--replication-port"],
    [["--user", "not a user"], "invalid --user"],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["service", "print", "--exec", EXEC, ...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertHas(r.stderr, message);
  }
});

Deno.test("cityhall service install and uninstall write and remove the unit file", async () => {
  const [dir, cleanup] = await tempDir();
  const unit = `${dir}/cityhall-test.service`;
  try {
    let r = await runCli(["service", "install", "--exec", EXEC, "--unit-path", unit]);
    assertEquals(r.code, 0, r.stderr);
    assertHas(r.stdout, "systemctl daemon-reload && systemctl enable --now cityhall-test");
    assertHas(r.stdout, "systemd-analyze security cityhall-test");
    const text = await Deno.readTextFile(unit);
    assertHas(text, "--data-dir /var/lib/cityhall-test");
    assertEquals((await Deno.stat(unit)).mode! & 0o777, 0o644);
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
