/**
 * The connection's socket reads through Deno's read op (src/server/_socket_read.ts): the op is
 * found on this Deno (an upgrade that moves it fails here instead of quietly reading the slower
 * way), it reads what `conn.read` reads and answers 0 at the end of the stream, and a server
 * connection reading through it serves split, pipelined and closing clients.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { readOp, ridOf } from "../../src/server/_socket_read.ts";
import { startTestServer } from "./_helpers.ts";

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
