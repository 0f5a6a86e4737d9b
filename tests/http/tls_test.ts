import { TEST_CERT_PEM, TEST_KEY_PEM } from "../_helpers/tls.ts";
import { assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { silentLogger } from "../../src/util/log.ts";

Deno.test({
  name: "startHttpServer() serves HTTPS with tls and the bearer token",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cityhall-http-tls-" });
    try {
      const cert = TEST_CERT_PEM;
      const key = TEST_KEY_PEM;
      const db = await Database.open(`${dir}/db`);
      const server = await startHttpServer(db, {
        hostname: "127.0.0.1",
        port: 0,
        logger: silentLogger,
        authToken: "tok",
        tls: { cert, key },
      });
      const client = Deno.createHttpClient({ caCerts: [cert] });
      try {
        assertEquals(server.url.startsWith("https://127.0.0.1:"), true);
        const auth = { authorization: "Bearer tok" };
        let res = await fetch(`${server.url}/v1/keys/k`, {
          method: "PUT",
          body: "tls",
          headers: auth,
          client,
        });
        assertEquals(res.status, 204);
        await res.body?.cancel();
        res = await fetch(`${server.url}/v1/keys/k`, { headers: auth, client });
        assertEquals(await res.text(), "tls");
        res = await fetch(`${server.url}/v1/keys/k`, { client });
        assertEquals(res.status, 401);
        await res.body?.cancel();
      } finally {
        client.close();
        await server.shutdown();
        await db.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
