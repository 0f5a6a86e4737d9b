import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { command, RawClient, rawExchange, startTestServer } from "./_helpers.ts";
import { RESP_INLINE_LINE_BYTES_MAX } from "../../src/limits.ts";

const cases: [string, string | Uint8Array, string][] = [
  ["huge multibulk count", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["non-numeric multibulk count", "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"],
  ["non-numeric bulk length", "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  ["negative bulk length", "*1\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length\r\n"],
  [
    "bulk length over the value limit",
    "*2\r\n$3\r\nset\r\n$999999999\r\n",
    "-ERR Protocol error: invalid bulk length\r\n",
  ],
  ["missing '$'", "*1\r\nxPING\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"],
  [
    "unbalanced double quotes",
    'SET "a b\r\n',
    "-ERR Protocol error: unbalanced quotes in request\r\n",
  ],
  [
    "unbalanced single quotes",
    "SET 'a b\r\n",
    "-ERR Protocol error: unbalanced quotes in request\r\n",
  ],
  [
    "closing quote followed by a byte",
    'SET "a"b c\r\n',
    "-ERR Protocol error: unbalanced quotes in request\r\n",
  ],
  [
    "inline line over 64 KiB",
    "x".repeat(RESP_INLINE_LINE_BYTES_MAX + 10),
    "-ERR Protocol error: too big inline request\r\n",
  ],
  [
    "multibulk count line over 64 KiB",
    "*" + "1".repeat(70 * 1024),
    "-ERR Protocol error: too big mbulk count string\r\n",
  ],
];

for (const [name, input, expected] of cases) {
  Deno.test(`protocol error: ${name} answers the error and closes; others are served`, async () => {
    const t = await startTestServer();
    const other = await RawClient.connect(t.port);
    try {
      const { reply, closed } = await rawExchange(t.port, input);
      assertEquals(reply, expected);
      assert(closed, "connection closed");
      await other.send(command("PING"));
      assertEquals(await other.readUntil((s) => s.endsWith("\r\n")), "+PONG\r\n");
      assertEquals(t.server.metrics.protocolErrors, 1);
    } finally {
      other.close();
      await t.close();
    }
  });
}

Deno.test("commands before a protocol error run and answer; nothing after it runs", async () => {
  const t = await startTestServer();
  try {
    const input = new TextEncoder().encode(
      "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n?oops\r\nSET after 1\r\n",
    );
    const { reply, closed } = await rawExchange(t.port, input);
    assertEquals(reply, "+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got '?'\r\n");
    assert(closed);
    assertEquals(t.db.getEntry("after"), undefined);
  } finally {
    await t.close();
  }
});

Deno.test("an HTTP request on the RESP port is recognised and closed without running", async () => {
  const t = await startTestServer();
  try {
    for (const req of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /v1/keys HTTP/1.1\r\n\r\n"]) {
      const { reply, closed } = await rawExchange(t.port, req);
      assertEquals(reply, "");
      assert(closed);
    }
  } finally {
    await t.close();
  }
});

Deno.test("unterminated frames wait for more bytes; the rest completes them", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel");
    await new Promise((r) => setTimeout(r, 50));
    await c.send("lo\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    assertEquals(await c.readUntil((s) => s.endsWith("hello\r\n")), "+OK\r\n$5\r\nhello\r\n");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("inline commands with quotes and escapes, and empty multibulk", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send(
      "SET \"a key\" \"line\\nnext\\x41\"\r\nGET 'a key'\r\n\r\n*0\r\n*-1\r\nECHO 'it\\'s'\n",
    );
    const out = await c.readUntil((s) => s.endsWith("it's\r\n"));
    assertEquals(out, "+OK\r\n$10\r\nline\nnextA\r\n$4\r\nit's\r\n");
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("unknown command and wrong arity keep the connection open", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send(command("FOO", "a", "b"));
    await c.send(command("GET"));
    await c.send(command("PING"));
    const out = await c.readUntil((s) => s.endsWith("+PONG\r\n"));
    assertEquals(
      out,
      "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n" +
        "-ERR wrong number of arguments for 'get' command\r\n+PONG\r\n",
    );
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("QUIT answers +OK and runs nothing pipelined after it", async () => {
  const t = await startTestServer();
  try {
    const { reply, closed } = await rawExchange(t.port, "SET a 1\r\nQUIT\r\nSET b 2\r\n");
    assertEquals(reply, "+OK\r\n+OK\r\n");
    assert(closed);
    assertEquals(t.db.getEntry("b"), undefined);
    assert(t.db.getEntry("a") !== undefined);
  } finally {
    await t.close();
  }
});

Deno.test("a key over the engine's key limit is an error reply, not a close", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send(command("SET", "k".repeat(17 * 1024), "v"));
    await c.send(command("GET", "k".repeat(17 * 1024)));
    await c.send(command("PING"));
    const out = await c.readUntil((s) => s.endsWith("+PONG\r\n"));
    const lines = out.split("\r\n");
    assert(lines[0]!.startsWith("-ERR Key too large"), lines[0]);
    assert(lines[1]!.startsWith("-ERR Key too large"), lines[1]);
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("RESP3 after HELLO 3: maps, nulls, and back to RESP2 with HELLO 2", async () => {
  const t = await startTestServer();
  const c = await RawClient.connect(t.port);
  try {
    await c.send(command("HELLO", "3"));
    const hello = await c.readUntil((s) => s.includes("modules\r\n*0\r\n"));
    assert(hello.startsWith("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), hello);
    assertStringIncludes(hello, "$5\r\nproto\r\n:3\r\n");
    await c.send(command("GET", "missing"));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "_\r\n");
    await c.send(command("CONFIG", "GET", "maxclients"));
    assertEquals(
      await c.readUntil((s) => s.endsWith("10000\r\n")),
      "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    );
    await c.send(command("CLIENT", "INFO"));
    const info = await c.readUntil((s) => s.endsWith("\n\r\n"));
    assert(info.startsWith("="), info);
    assertStringIncludes(info, "txt:id=");
    await c.send(command("HELLO", "2"));
    await c.readUntil((s) => s.includes("modules\r\n*0\r\n"));
    await c.send(command("GET", "missing"));
    assertEquals(await c.readUntil((s) => s.endsWith("\r\n")), "$-1\r\n");
    await c.send(command("HELLO", "4"));
    assertEquals(
      await c.readUntil((s) => s.endsWith("\r\n")),
      "-NOPROTO unsupported protocol version\r\n",
    );
  } finally {
    c.close();
    await t.close();
  }
});

Deno.test("max clients: the extra client gets the error and a close", async () => {
  const t = await startTestServer({ maxClients: 2 });
  const a = await RawClient.connect(t.port);
  const b = await RawClient.connect(t.port);
  try {
    await a.send(command("PING"));
    await a.readUntil((s) => s.endsWith("\r\n"));
    await b.send(command("PING"));
    await b.readUntil((s) => s.endsWith("\r\n"));
    const { reply, closed } = await rawExchange(t.port, command("PING"));
    assertEquals(reply, "-ERR max number of clients reached\r\n");
    assert(closed);
    assertEquals(t.server.metrics.connectionsRejected, 1);
  } finally {
    a.close();
    b.close();
    await t.close();
  }
});

Deno.test("idle clients are closed after the idle timeout", async () => {
  const t = await startTestServer({ idleTimeoutS: 1 });
  try {
    const started = Date.now();
    // 60 s: far below the default idle timeout (300 s), far above a loaded machine's delays.
    const { closed } = await rawExchange(t.port, command("PING"), 60_000);
    assert(closed);
    assert(Date.now() - started >= 1000);
  } finally {
    await t.close();
  }
});
