import { assert, assertEquals, assertThrows } from "@std/assert";
import { InvalidArgumentError } from "../../src/errors.ts";
import { checkAuthToken, checkBindSecurity, estimatedEntropyBits } from "../../src/server/mod.ts";
import { runCli, tempDir } from "../cli/_helpers.ts";
import { Redis } from "ioredis";
import {
  closeRedis,
  command,
  connectRedis,
  RawClient,
  rawExchange,
  startTestServer,
} from "./_helpers.ts";

const TOKEN = "s3cret-token";

Deno.test("with a token: NOAUTH before AUTH, WRONGPASS for a wrong token, right token works", async () => {
  const t = await startTestServer({ authToken: TOKEN });
  const c = await RawClient.connect(t.port);
  try {
    await c.send(command("GET", "k"));
    assertEquals(
      await c.readUntil((s) => s.endsWith("\r\n")),
      "-NOAUTH Authentication required.\r\n",
    );
    await c.send(command("AUTH", "wrong"));
    assertEquals(
      await c.readUntil((s) => s.endsWith("\r\n")),
      "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    await c.send(command("AUTH", "someone", TOKEN));
    assertEquals(
      await c.readUntil((s) => s.endsWith("\r\n")),
      "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    await c.send(command("HELLO", "3"));
    assert(
      (await c.readUntil((s) => s.endsWith("\r\n"))).startsWith("-NOAUTH HELLO must be called"),
    );
    await c.send(command("AUTH", TOKEN));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+OK\r\n");
    await c.send(command("SET", "k", "v"));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+OK\r\n");
    await c.send(command("AUTH", "default", TOKEN));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+OK\r\n");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("ioredis with the token (HELLO 3 AUTH default <token>) works; without it fails", async () => {
  const t = await startTestServer({ authToken: TOKEN });
  try {
    const r = await connectRedis(t.port, { password: TOKEN });
    assertEquals(await r.set("a", "1"), "OK");
    assertEquals(await r.get("a"), "1");
    await closeRedis(r);
    const r2 = await connectRedis(t.port, { password: TOKEN, protocol: 2 });
    assertEquals(await r2.get("a"), "1");
    await closeRedis(r2);
    const wrong = new Redis({
      port: t.port,
      host: "127.0.0.1",
      password: "nope",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const errors: string[] = [];
    wrong.on("error", (e: Error) => errors.push(e.message));
    const ended = new Promise<void>((resolve) => wrong.once("end", () => resolve()));
    const failed = await wrong.connect().then(() => undefined, (e: Error) => e.message);
    wrong.disconnect();
    await ended;
    assert([...errors, failed ?? ""].some((m) => m.includes("WRONGPASS")), String(errors));
  } finally {
    await t.close();
  }
});

Deno.test("before AUTH: too many arguments and big bulks close the connection", async () => {
  const t = await startTestServer({ authToken: TOKEN });
  try {
    const many = await rawExchange(t.port, command("AUTH", ...Array(11).fill("x")));
    assertEquals(many.reply, "-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert(many.closed);
    const big = await rawExchange(t.port, command("AUTH", "x".repeat(20_000)));
    assertEquals(big.reply, "-ERR Protocol error: unauthenticated bulk length\r\n");
    assert(big.closed);
    // After AUTH the normal limits apply on the same connection.
    const ok = await rawExchange(
      t.port,
      new Uint8Array([
        ...command("AUTH", TOKEN),
        ...command("MSET", ...Array(12).fill("x")),
        ...command("SET", "big", "y".repeat(20_000)),
        ...command("QUIT"),
      ]),
    );
    assertEquals(ok.reply, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
  } finally {
    await t.close();
  }
});

Deno.test("without a token, AUTH <password> is an error and AUTH default <x> is accepted", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send(command("AUTH", "x"));
    assert((await c.readUntil((s) => s.endsWith("\r\n"))).startsWith(
      "-ERR AUTH <password> called without any password configured for the default user.",
    ));
    await c.send(command("AUTH", "default", "x"));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "+OK\r\n");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("checkBindSecurity refuses a non-loopback bind without a token", () => {
  assertEquals(checkBindSecurity("127.0.0.1"), undefined);
  assertEquals(checkBindSecurity("::1"), undefined);
  assertEquals(checkBindSecurity("localhost"), undefined);
  assertEquals(checkBindSecurity("0.0.0.0", { authToken: "t" }), undefined);
  assertThrows(() => checkBindSecurity("0.0.0.0"), InvalidArgumentError, "--auth-token-file");
  assertThrows(() => checkBindSecurity("10.1.2.3", { authToken: "" }), InvalidArgumentError);
  const warning = checkBindSecurity("0.0.0.0", { insecureNoAuth: true });
  assert(warning !== undefined && warning.includes("without authentication"));
});

Deno.test("checkAuthToken: long, short and guessable tokens are refused with the flag named", () => {
  const file = { publicBind: true, source: "--auth-token-file /etc/cityhall/token" };
  assertThrows(() => checkAuthToken("x", file), InvalidArgumentError, "--auth-token-file");
  assertThrows(() => checkAuthToken("x", file), InvalidArgumentError, "too short");
  assertThrows(
    () => checkAuthToken("a".repeat(40), file),
    InvalidArgumentError,
    "too easy to guess",
  );
  assertThrows(() => checkAuthToken("ab".repeat(20), file), InvalidArgumentError, "guess");
  checkAuthToken("3f9c0a7e51b24d86a1c3e5f70b9d2e4c", file);
  checkAuthToken("correct horse battery staple", file);
  // Loopback: any length up to the maximum (local tools, tests).
  checkAuthToken("x", { publicBind: false, source: "CITYHALL_AUTH_TOKEN" });
  // Over 4 KiB: refused for every bind (HTTP headers and replication could never carry it).
  assertThrows(
    () => checkAuthToken("k".repeat(4097), { publicBind: false, source: "CITYHALL_AUTH_TOKEN" }),
    InvalidArgumentError,
    "CITYHALL_AUTH_TOKEN is 4097 bytes",
  );
  assert(estimatedEntropyBits(new TextEncoder().encode("3f9c0a7e51b24d86")) > 48);
});

Deno.test("cityhall serve refuses a weak token for a public bind, and an over-long one, at startup", async () => {
  const [dir, cleanup] = await tempDir("cityhall-token-");
  try {
    await Deno.writeTextFile(`${dir}/weak`, "x\n");
    const weak = await runCli([
      "serve",
      "--data-dir",
      `${dir}/db`,
      "--bind",
      "0.0.0.0",
      "--port",
      "0",
      "--no-http",
      "--auth-token-file",
      `${dir}/weak`,
    ]);
    assertEquals(weak.code, 2);
    assert(weak.stderr.includes(`--auth-token-file ${dir}/weak`), weak.stderr);
    assert(weak.stderr.includes("too short"), weak.stderr);
    const long = await runCli(
      ["serve", "--data-dir", `${dir}/db`, "--port", "0", "--no-http"],
      { env: { CITYHALL_AUTH_TOKEN: "k".repeat(5000) } },
    );
    assertEquals(long.code, 2);
    assert(long.stderr.includes("CITYHALL_AUTH_TOKEN is 5000 bytes"), long.stderr);
  } finally {
    await cleanup();
  }
});

Deno.test("failed AUTHs are delayed, counted per source, and close the connection", async () => {
  // No auth deadline here: with the default 10 s it would close the guesser even earlier.
  const t = await startTestServer({ authToken: TOKEN, config: { authTimeoutS: 0 } });
  try {
    // A pipelined burst of 50 guesses: nothing after a failure runs until its delay passed,
    // and the 10th failure closes the connection, so 40 of them never run.
    const burst = new Uint8Array(
      Array.from({ length: 50 }, (_, i) => [...command("AUTH", `guess-${i}`)]).flat(),
    );
    const t0 = performance.now();
    const { reply, closed } = await rawExchange(t.port, burst, 60_000);
    const seconds = (performance.now() - t0) / 1000;
    assert(closed, "the guessing connection was closed");
    assertEquals(reply.split("-WRONGPASS").length - 1, 10);
    console.log(`10 guesses on one connection took ${seconds.toFixed(2)} s`);
    assertEquals(t.server.metrics.authFailures, 10);
    assertEquals(t.server.metrics.authFailureDisconnections, 1);
    // More failures from the same address: past 30 in the window, each closes at once (the
    // PING after the guess is answered NOAUTH while the source is under the threshold).
    const guessThenPing = new Uint8Array([
      ...command("AUTH", "x"),
      ...command("PING"),
      ...command("QUIT"),
    ]);
    for (let i = 0; i < 20; i++) {
      const r = await rawExchange(t.port, guessThenPing, 30_000);
      assertEquals(
        r.reply,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n" +
          "-NOAUTH Authentication required.\r\n+OK\r\n",
      );
    }
    const last = await rawExchange(t.port, guessThenPing, 30_000);
    assertEquals(last.closed, true);
    assertEquals(last.reply.includes("NOAUTH"), false, "closed right after the failure");
    // The right token still works from that address (no lockout of the real user).
    const good = await connectRedis(t.port, { protocol: 2, password: TOKEN });
    assertEquals(await good.ping(), "PONG");
    const stats = await good.info("stats");
    assertEquals(/^cityhall_auth_failures:(\d+)/m.exec(stats)?.[1], "31");
    await closeRedis(good);
  } finally {
    await t.close();
  }
});
