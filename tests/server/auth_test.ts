import { assert, assertEquals, assertThrows } from "@std/assert";
import { InvalidArgumentError } from "../../src/errors.ts";
import { checkBindSecurity } from "../../src/server/mod.ts";
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
