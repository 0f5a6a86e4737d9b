import { assertEquals } from "@std/assert";
import { Database } from "../../src/mod.ts";
import { startHttpServer } from "../../src/http/mod.ts";
import { silentLogger } from "../../src/util/log.ts";

async function hasOpenssl(): Promise<boolean> {
  try {
    const out = await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "startHttpServer() serves HTTPS with tls and the bearer token",
  ignore: !(await hasOpenssl()),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cityhall-http-tls-" });
    try {
      const out = await new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=127.0.0.1",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
          "-addext",
          "extendedKeyUsage=serverAuth",
          "-keyout",
          `${dir}/key.pem`,
          "-out",
          `${dir}/cert.pem`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(out.success, true, new TextDecoder().decode(out.stderr));
      const cert = await Deno.readTextFile(`${dir}/cert.pem`);
      const key = await Deno.readTextFile(`${dir}/key.pem`);
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
