/**
 * The RESP server over TLS (`Deno.listenTls`): a client that trusts the certificate talks
 * RESP as usual, AUTH included.
 */

import { assertEquals } from "@std/assert";
import { TEST_CERT_PEM, TEST_KEY_PEM } from "../_helpers/tls.ts";
import { command, startTestServer } from "./_helpers.ts";

async function exchange(conn: Deno.Conn, request: Uint8Array, until: string): Promise<string> {
  await conn.write(request);
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.endsWith(until)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("RESP over TLS: AUTH, SET and GET through Deno.connectTls", async () => {
  const t = await startTestServer({
    tls: { cert: TEST_CERT_PEM, key: TEST_KEY_PEM },
    authToken: "tls-token",
  });
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: t.port,
    caCerts: [TEST_CERT_PEM],
  });
  try {
    assertEquals(
      await exchange(conn, command("GET", "k"), "\r\n"),
      "-NOAUTH Authentication required.\r\n",
    );
    assertEquals(await exchange(conn, command("AUTH", "tls-token"), "\r\n"), "+OK\r\n");
    assertEquals(await exchange(conn, command("SET", "k", "secret"), "\r\n"), "+OK\r\n");
    assertEquals(await exchange(conn, command("GET", "k"), "secret\r\n"), "$6\r\nsecret\r\n");
  } finally {
    conn.close();
    await t.close();
  }
});
