/**
 * `cityhall client …` end to end: a real `cityhall serve` process and real CLI processes.
 */

import { assertEquals, assertMatch } from "@std/assert";
import { assertHas, freePort, runCli, startServe, tempDir } from "./_helpers.ts";
import { TEST_CERT_PEM, TEST_KEY_PEM } from "../_helpers/tls.ts";

Deno.test("cityhall client: put, get, del, scan, stats, ping and info print script-friendly output", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  // The last run, so that a failure shows what the CLI and the server said (it failed once in
  // CI with only "exit 1 instead of 0" to go on).
  let last = "";
  const c = async (...args: string[]) => {
    const r = await runCli(["client", "--port", String(serve.port), ...args]);
    last = `client ${args.join(" ")}: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, ` +
      `stderr ${JSON.stringify(r.stderr)}`;
    return r;
  };
  try {
    let r = await c("put", "system.cpu.load", "0.75");
    assertEquals([r.code, r.stdout], [0, "OK\n"]);
    r = await c("set", "system.cpu.temp", "-3.5");
    assertEquals([r.code, r.stdout], [0, "OK\n"]);
    r = await c("put", "system.mem.free", "1024");
    assertEquals(r.code, 0);

    r = await c("get", "system.cpu.load");
    assertEquals([r.code, r.stdout, r.stderr], [0, "0.75\n", ""]);
    r = await c("get", "system.cpu.temp");
    assertEquals(r.stdout, "-3.5\n");

    r = await c("get", "no.such.key");
    assertEquals([r.code, r.stdout, r.stderr], [1, "", "not found\n"]);

    r = await c("scan", "system.cpu.");
    assertEquals([r.code, r.stdout], [0, "system.cpu.load\t0.75\nsystem.cpu.temp\t-3.5\n"]);
    r = await c("scan", "system.", "--limit", "2");
    assertEquals(r.stdout, "system.cpu.load\t0.75\nsystem.cpu.temp\t-3.5\n");
    r = await c("scan", "nothing.");
    assertEquals([r.code, r.stdout], [0, ""]);
    // Glob characters in a prefix are literal.
    for (const k of ["a*b", "a*bc", "axb", "a?"]) await c("put", k, "1");
    r = await c("scan", "a*");
    assertEquals(r.stdout, "a*b\t1\na*bc\t1\n");

    r = await c("del", "system.mem.free", "no.such.key");
    assertEquals([r.code, r.stdout], [0, "1\n"]);
    r = await c("delete", "system.mem.free");
    assertEquals(r.stdout, "0\n");

    r = await c("ping");
    assertEquals([r.code, r.stdout], [0, "PONG\n"]);
    r = await c("stats");
    assertEquals(r.code, 0);
    assertHas(r.stdout, "# CityHall\n");
    assertHas(r.stdout, "total_commands_processed:");
    r = await c("info", "server");
    assertEquals(r.code, 0);
    assertHas(r.stdout, "cityhall_version:");
    assertEquals(r.stdout.includes("\r"), false);
  } catch (err) {
    throw new Error(`${err}\n${last}\nserver log:\n${serve.log()}`, { cause: err });
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});

Deno.test("cityhall client --json: every subcommand prints one JSON document", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  const c = (...args: string[]) =>
    runCli(["client", "--json", "--port", String(serve.port), ...args]);
  try {
    assertEquals(JSON.parse((await c("put", "k1", "v1")).stdout), { ok: true });
    await c("put", "k2", "v2");
    assertEquals(JSON.parse((await c("get", "k1")).stdout), { key: "k1", value: "v1" });
    const missing = await c("get", "nope");
    assertEquals(missing.code, 1);
    assertEquals(JSON.parse(missing.stdout), { key: "nope", value: null });
    assertEquals(JSON.parse((await c("scan", "k")).stdout), [
      { key: "k1", value: "v1" },
      { key: "k2", value: "v2" },
    ]);
    assertEquals(JSON.parse((await c("del", "k1", "k2", "k3")).stdout), { deleted: 2 });
    const ping = JSON.parse((await c("ping")).stdout);
    assertEquals(ping.reply, "PONG");
    const stats = JSON.parse((await c("stats")).stdout);
    assertEquals(typeof stats.cityhall.last_seq, "number");
    const info = JSON.parse((await c("info", "server")).stdout);
    assertEquals(info.server.cityhall_version, "0.1.0");
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});

Deno.test("cityhall client prompt: reads Redis commands and the seed's words from a pipe", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  try {
    const input = [
      'SET greeting "hello world"',
      "GET greeting",
      "GET missing",
      "SET sensor.a 1",
      "MSET sensor.b 2 sensor.c 3",
      "DELETE sensor.a",
      "SET other.x 9",
      "SCAN sensor.",
      "DELETE greeting",
      "EXISTS greeting",
      "INCR counter",
      "MGET sensor.b nope",
      "STATS",
      "",
    ].join("\n");
    const r = await runCli(["client", "--port", String(serve.port)], { stdin: input });
    assertEquals(r.code, 0, r.stderr);
    const expected = [
      "OK",
      '"hello world"',
      "(nil)",
      "OK",
      "OK", // MSET sensor.b 2 sensor.c 3
      "(integer) 1", // DEL sensor.a
      "OK", // MSET other.x 9
      '1) "sensor.b"\n2) "2"\n3) "sensor.c"\n4) "3"',
      "(integer) 1",
      "(integer) 0",
      "(integer) 1",
      '1) "2"\n2) (nil)',
    ].join("\n");
    assertEquals(r.stdout.slice(0, expected.length), expected);
    assertHas(r.stdout, "# CityHall\n");
    // No prompt when stdin is not a terminal.
    assertEquals(r.stdout.includes("> "), false);
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});

Deno.test("cityhall client prompt: errors are printed like redis-cli and make a piped run exit 1", async () => {
  const [dir, cleanup] = await tempDir();
  const serve = await startServe(dir);
  try {
    const r = await runCli(["client", "--port", String(serve.port)], {
      stdin: 'NOSUCHCOMMAND x\nSET "unbalanced\nBATCH x\nGET a\nPING\n',
    });
    assertEquals(r.code, 1);
    const lines = r.stdout.split("\n");
    assertMatch(lines[0]!, /^\(error\) ERR unknown command 'NOSUCHCOMMAND'/);
    assertEquals(lines[1], "(error) Invalid argument(s)");
    assertMatch(lines[2]!, /^\(error\) ERR usage: BATCH n/);
    assertEquals(lines.slice(3), ["(nil)", "PONG", ""]);
  } finally {
    assertEquals(await serve.stop(), 0);
    await cleanup();
  }
});

Deno.test("cityhall client: AUTH with a token file, the environment, or a refused token", async () => {
  const [dir, cleanup] = await tempDir();
  const tokenFile = `${dir}-token`;
  await Deno.writeTextFile(tokenFile, "s3cret-token\n");
  const serve = await startServe(dir, ["--auth-token-file", tokenFile]);
  const port = String(serve.port);
  try {
    let r = await runCli(["client", "--port", port, "put", "k", "v"]);
    assertEquals(r.code, 1);
    assertHas(r.stderr, "NOAUTH");
    r = await runCli(["client", "--port", port, "--auth-token-file", tokenFile, "put", "k", "v"]);
    assertEquals([r.code, r.stdout], [0, "OK\n"]);
    r = await runCli(["client", "--port", port, "get", "k"], {
      env: { CITYHALL_AUTH_TOKEN: "s3cret-token" },
    });
    assertEquals([r.code, r.stdout], [0, "v\n"]);
    r = await runCli(["get", "--port", port, "k"], { env: { CITYHALL_AUTH_TOKEN: "wrong" } });
    assertEquals(r.code, 1);
    assertHas(r.stderr, "Authentication failed");
    r = await runCli(["client", "--port", port, "--auth-token-file", tokenFile], {
      stdin: "GET k\n",
    });
    assertEquals([r.code, r.stdout], [0, '"v"\n']);
    // HTTP takes the same token as a bearer token.
    const res = await fetch(`http://127.0.0.1:${serve.httpPort}/v1/keys/k`, {
      headers: { authorization: "Bearer s3cret-token" },
    });
    assertEquals(await res.text(), "v");
  } finally {
    assertEquals(await serve.stop(), 0);
    await Deno.remove(tokenFile);
    await cleanup();
  }
});

Deno.test("cityhall client: connection refused names host:port and exits 1", async () => {
  const port = freePort();
  for (const args of [["ping"], ["get", "k"], []]) {
    const r = await runCli(["client", "--port", String(port), ...args], { stdin: "PING\n" });
    assertEquals(r.code, 1, `client ${args.join(" ")}`);
    assertHas(r.stderr, `Cannot connect to 127.0.0.1:${port}: connection refused`);
    assertEquals(r.stdout, "");
  }
});

Deno.test("cityhall client: usage errors exit 2", async () => {
  for (
    const args of [
      ["client", "put", "only-key"],
      ["client", "frobnicate"],
      ["client", "--bogus", "ping"],
      ["client", "get", "k", "--limit", "3"],
      ["client", "scan", "p", "--limit", "0"],
      ["client", "--port", "99999", "ping"],
    ]
  ) {
    const r = await runCli(args);
    assertEquals(r.code, 2, args.join(" "));
    assertHas(r.stderr, "(see cityhall client --help)");
  }
});

Deno.test("cityhall client --tls-ca talks to a serve --tls-cert/--tls-key server", async () => {
  const [dir, cleanup] = await tempDir();
  await Deno.writeTextFile(`${dir}/cert.pem`, TEST_CERT_PEM);
  await Deno.writeTextFile(`${dir}/key.pem`, TEST_KEY_PEM);
  const serve = await startServe(`${dir}/data`, [
    "--tls-cert",
    `${dir}/cert.pem`,
    "--tls-key",
    `${dir}/key.pem`,
  ]);
  const c = (...args: string[]) =>
    runCli(["client", "--port", String(serve.port), "--tls-ca", `${dir}/cert.pem`, ...args]);
  try {
    let r = await c("put", "tls.key", "over tls");
    assertEquals([r.code, r.stdout], [0, "OK\n"]);
    r = await c("get", "tls.key");
    assertEquals([r.code, r.stdout], [0, "over tls\n"]);
    // Without --tls-ca the TLS server is not spoken to in plain text.
    r = await runCli(["client", "--port", String(serve.port), "get", "tls.key"]);
    assertEquals(r.code, 1);
  } finally {
    await serve.stop();
    await cleanup();
  }
});
