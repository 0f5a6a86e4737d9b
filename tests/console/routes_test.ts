/**
 * The console's HTTP side: its files are served without the token with a strict CSP and
 * revalidated by ETag, `/v1/replication` needs the token, and writes a browser marks as coming
 * from another origin are refused (CSRF), whatever the token.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { expectError, json, withServer } from "../http/_helpers.ts";
import { CONSOLE_ASSETS, CONSOLE_CSP, UPLOT_VERSION } from "../../src/console/mod.ts";

const TOKEN = "routes-test-token";

Deno.test("console: every file is served without the token, with the CSP and nosniff", async () => {
  await withServer(async (h) => {
    assert(CONSOLE_ASSETS.size >= 15);
    for (const asset of CONSOLE_ASSETS.values()) {
      const res = await fetch(h.url + asset.path);
      const body = new Uint8Array(await res.arrayBuffer());
      assertEquals(res.status, 200, asset.path);
      assertEquals(body, asset.body, asset.path);
      assertEquals(res.headers.get("content-type"), asset.contentType);
      assertEquals(res.headers.get("content-security-policy"), CONSOLE_CSP);
      assertEquals(res.headers.get("x-content-type-options"), "nosniff");
      assertEquals(res.headers.get("x-frame-options"), "DENY");
      assertEquals(res.headers.get("referrer-policy"), "no-referrer");
      assertEquals(res.headers.get("cache-control"), "no-cache");
      assertEquals(res.headers.get("etag"), asset.etag);
    }
    // The data routes still need the token.
    await expectError(await fetch(h.url + "/v1/stats"), 401, "Unauthorized");
    await expectError(await fetch(h.url + "/v1/replication"), 401, "Unauthorized");
    await expectError(await fetch(h.url + "/console/nope.js"), 401, "Unauthorized");
  }, { authToken: TOKEN });
});

Deno.test("console: the CSP allows nothing inline and no other origin", () => {
  const directives = new Map(
    CONSOLE_CSP.split(";").map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values.join(" ")];
    }),
  );
  assertEquals(directives.get("default-src"), "'self'");
  assertEquals(directives.get("script-src"), "'self'");
  assertEquals(directives.get("style-src"), "'self'");
  assertEquals(directives.get("frame-ancestors"), "'none'");
  assertEquals(directives.get("object-src"), "'none'");
  assertEquals(directives.get("require-trusted-types-for"), "'script'");
  assert(!CONSOLE_CSP.includes("unsafe"), CONSOLE_CSP);
  assert(!/https?:|\*/.test(CONSOLE_CSP), CONSOLE_CSP);
});

Deno.test("console: the page has no inline script or style, and loads only its own files", () => {
  const html = new TextDecoder().decode(CONSOLE_ASSETS.get("/")!.body);
  assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), "inline <script>");
  assert(!/<style/i.test(html), "inline <style>");
  assert(!/\sstyle=/i.test(html), "style attribute");
  assert(!/\son[a-z]+=/i.test(html), "inline event handler");
  for (const m of html.matchAll(/(?:src|href)="([^"#]+)"/g)) {
    assert(CONSOLE_ASSETS.has(m[1]!), `${m[1]} is not a console file`);
  }
  for (const asset of CONSOLE_ASSETS.values()) {
    if (!asset.path.endsWith(".js") || asset.path === "/console/uplot.js") continue;
    const text = new TextDecoder().decode(asset.body);
    for (const m of text.matchAll(/from "\.\/([^"]+)"|import\("\.\/([^"]+)"\)/g)) {
      const target = `/console/${m[1] ?? m[2]}`;
      assert(CONSOLE_ASSETS.has(target), `${asset.path} imports ${target}, not served`);
    }
    assert(!/\.innerHTML\s*=|insertAdjacentHTML|outerHTML\s*=|eval\(/.test(text), asset.path);
  }
});

Deno.test("console: uPlot is the pinned npm release", () => {
  const js = new TextDecoder().decode(CONSOLE_ASSETS.get("/console/uplot.js")!.body);
  assertStringIncludes(js.slice(0, 200), `uPlot (v${UPLOT_VERSION})`);
  const config = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
  for (const target of Object.values(config.imports as Record<string, string>)) {
    if (target.startsWith("npm:uplot@")) assert(target.startsWith(`npm:uplot@${UPLOT_VERSION}/`));
  }
  const css = new TextDecoder().decode(CONSOLE_ASSETS.get("/console/app.css")!.body);
  assertStringIncludes(css, ".uplot");
});

Deno.test("console: If-None-Match with the ETag answers 304 without a body", async () => {
  await withServer(async (h) => {
    const asset = CONSOLE_ASSETS.get("/console/app.js")!;
    const res = await fetch(h.url + asset.path, { headers: { "if-none-match": asset.etag } });
    assertEquals(res.status, 304);
    assertEquals(await res.text(), "");
    assertEquals(res.headers.get("etag"), asset.etag);
    const other = await fetch(h.url + asset.path, { headers: { "if-none-match": '"other"' } });
    assertEquals(other.status, 200);
    await other.body?.cancel();
    await expectError(await fetch(h.url + "/", { method: "POST" }), 405, "Method not allowed");
  });
});

Deno.test("console: GET /v1/replication of a standalone server", async () => {
  await withServer(async (h) => {
    await h.db.put("a", "1");
    const body = await json(await h.fetch("/v1/replication"), 200);
    assertEquals(body, {
      role: "standalone",
      position: h.db.lastSeq,
      replicas: [],
      leader: null,
      uplinks: [],
      info: {},
    });
  }, { authToken: TOKEN });
});

Deno.test("CSRF: a write from another origin is refused before it runs, token or not", async () => {
  // Without a token (the loopback default): the case the guard exists for.
  await withServer(async (h) => {
    const host = new URL(h.url).host;
    const cases: [Record<string, string>, number][] = [
      [{ origin: "http://evil.example" }, 403],
      [{ origin: "null" }, 403],
      [{ origin: `http://${host}.evil.example` }, 403],
      [{ "sec-fetch-site": "cross-site" }, 403],
      [{ "sec-fetch-site": "same-site" }, 403],
      [{ origin: h.url, "sec-fetch-site": "same-origin" }, 200],
      [{ "sec-fetch-site": "none" }, 200],
      [{}, 200],
    ];
    for (const [headers, status] of cases) {
      const res = await h.fetch("/v1/batch", {
        method: "POST",
        headers: { ...headers, "content-type": "text/plain" },
        body: JSON.stringify({ ops: [{ op: "put", key: "csrf", value: JSON.stringify(headers) }] }),
      });
      const text = await res.text();
      assertEquals(res.status, status, `${JSON.stringify(headers)}: ${text}`);
      if (status === 403) assertStringIncludes(text, "Forbidden: a write from another");
    }
    // Only the allowed writes happened: the last one wrote the value of the empty header set.
    assertEquals(new TextDecoder().decode(await h.db.get("csrf")), "{}");
    const del = await h.fetch("/v1/keys/csrf", {
      method: "DELETE",
      headers: { origin: "http://evil.example" },
    });
    await expectError(del, 403, "Origin: http://evil.example");
    assert((await h.db.get("csrf")) !== undefined);
    // Reads from anywhere are not writes (the token still guards them).
    const read = await h.fetch("/v1/keys/csrf", { headers: { origin: "http://evil.example" } });
    assertEquals(read.status, 200);
    await read.body?.cancel();
  });
  // With the token as well: a valid token does not make a cross-origin write acceptable.
  await withServer(async (h) => {
    const res = await h.fetch("/v1/keys/x", {
      method: "PUT",
      headers: { origin: "http://evil.example" },
      body: "1",
    });
    await expectError(res, 403, "Forbidden");
    assertEquals(await h.db.get("x"), undefined);
  }, { authToken: TOKEN });
});
