/**
 * The connection's socket reads and reply writes through Deno's read and write ops
 * (src/server/_socket_ops.ts): the ops are found on this Deno (an upgrade that moves them fails
 * here instead of quietly taking the slower way), the read op reads what `conn.read` reads and
 * answers 0 at the end of the stream, the write op writes what `conn.write` writes, and a
 * server connection using them serves split, pipelined and closing clients, and a reply bigger
 * than the socket's buffer to a client that reads it late (the write finishes in parts while
 * the next read waits).
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { readOp, ridOf, writeOp } from "../../src/server/_socket_ops.ts";
import { command, startTestServer } from "./_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function pair(): Promise<{ server: Deno.Conn; client: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connecting = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  const client = await connecting;
  listener.close();
  return {
    server,
    client,
    close() {
      for (const c of [server, client]) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

Deno.test("socket read op: found on this Deno, reads the bytes sent, 0 at the end", async () => {
  const op = readOp;
  if (op === undefined) throw new Error("Deno's read op not found: connections use conn.read");
  const p = await pair();
  try {
    const rid = ridOf(p.server);
    assert(rid >= 0, "a TCP connection has a resource id");
    await p.client.write(enc.encode("*1\r\n$4\r\nPING\r\n"));
    const buf = new Uint8Array(64);
    let got = "";
    while (got.length < 14) {
      const n = await op(rid, buf.subarray(got.length));
      assert(n > 0);
      got += dec.decode(buf.subarray(got.length, got.length + n));
    }
    assertEquals(got, "*1\r\n$4\r\nPING\r\n");
    await p.client.closeWrite();
    assertEquals(await op(rid, buf), 0);
  } finally {
    p.close();
  }
});

Deno.test("socket read op: a connection without a resource id reads through conn.read", () => {
  const fake = { read: () => Promise.resolve(null) } as unknown as Deno.Conn;
  assertEquals(ridOf(fake), -1);
});

Deno.test("socket read op: the server serves split, pipelined and closing clients", async () => {
  const t = await startTestServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const read = async (want: string) => {
      const buf = new Uint8Array(256);
      let got = "";
      while (got.length < want.length) {
        const n = await conn.read(buf);
        if (n === null) throw new Error(`closed before ${JSON.stringify(want)}`);
        got += dec.decode(buf.subarray(0, n));
      }
      assertEquals(got, want);
    };
    // One command in three writes, each its own read on the server.
    for (const part of ["*3\r\n$5\r\nLPUSH\r\n", "$1\r\nl\r\n$1", "\r\nx\r\n"]) {
      await conn.write(enc.encode(part));
      await new Promise((r) => setTimeout(r, 20));
    }
    await read(":1\r\n");
    // Three commands in one write.
    await conn.write(enc.encode("LPUSH l y\r\nLLEN l\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"));
    await read(":2\r\n:2\r\n$2\r\nhi\r\n");
    // The client ends its side: the server reads the end and closes the connection.
    await conn.closeWrite();
    const buf = new Uint8Array(16);
    assertEquals(await conn.read(buf), null);
    conn.close();
  } finally {
    await t.close();
  }
});

Deno.test("socket write op: found on this Deno, writes the bytes given", async () => {
  const op = writeOp;
  if (op === undefined) throw new Error("Deno's write op not found: replies use conn.write");
  const p = await pair();
  try {
    const rid = ridOf(p.server);
    assertEquals(await op(rid, enc.encode("+PONG\r\n")), 7);
    const buf = new Uint8Array(16);
    let got = "";
    while (got.length < 7) {
      const n = await p.client.read(buf);
      if (n === null) throw new Error("closed before the reply");
      got += dec.decode(buf.subarray(0, n));
    }
    assertEquals(got, "+PONG\r\n");
  } finally {
    p.close();
  }
});

Deno.test("socket write op: replies bigger than the socket buffers, read late, come whole and in order", async () => {
  const t = await startTestServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.port });
    const push: string[] = ["RPUSH", "l"];
    for (let i = 0; i < 100; i++) push.push(String(i % 10));
    await conn.write(command(...push));
    const buf = new Uint8Array(64 * 1024);
    const first = await conn.read(buf);
    assertEquals(dec.decode(buf.subarray(0, first!)), ":100\r\n");
    // 100 rounds of 200 pipelined LRANGEs (~140 KB of replies, one run of the reply buffer,
    // written while the next read waits), then a command after, and nothing read meanwhile:
    // the socket's buffers fill, and the replies go out in parts as the client reads at last.
    const perRound = 200;
    const rounds = 100;
    for (let i = 0; i < rounds; i++) {
      await conn.write(enc.encode("LRANGE l 0 99\r\n".repeat(perRound)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await conn.write(enc.encode("ECHO after\r\n"));
    let one = "*100\r\n";
    for (let i = 0; i < 100; i++) one += `$1\r\n${i % 10}\r\n`;
    const want = one.repeat(perRound * rounds) + "$5\r\nafter\r\n";
    const all = new Uint8Array(want.length);
    let got = 0;
    while (got < want.length) {
      const n = await conn.read(all.subarray(got));
      if (n === null) throw new Error(`closed after ${got} bytes`);
      got += n;
    }
    assertEquals(dec.decode(all), want);
    // And the connection goes on.
    await conn.write(enc.encode("PING\r\n"));
    const n = await conn.read(buf);
    assertEquals(dec.decode(buf.subarray(0, n!)), "+PONG\r\n");
    conn.close();
  } finally {
    await t.close();
  }
});
