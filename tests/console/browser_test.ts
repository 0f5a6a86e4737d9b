/**
 * The web console in a real browser: Debian's headless chromium driven over the DevTools
 * protocol (`tests/_helpers/cdp.ts`) against a real `cityhall serve` child with a token. Every
 * page loads, sign-in works and keeps the token out of URLs and cookies, keys are shown as text
 * (never markup), edited and deleted, the charts draw, and the page logs no error and no CSP
 * violation.
 */

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Browser, type Page } from "../_helpers/cdp.ts";
import { countColour, decodePng, pixelStats } from "../_helpers/png.ts";
import { type ServeProcess, startServe, tempDir } from "../cli/_helpers.ts";

const TOKEN = "console-test-token-7f3a9c1e5b";

async function api(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${TOKEN}`);
  return await fetch(base + path, { ...init, headers });
}

function pct(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => "%" + b.toString(16).padStart(2, "0")).join("");
}

async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.waitFor(`!document.getElementById("login").hidden`, "the sign-in form");
  await page.fill("#token", TOKEN);
  await page.eval(`document.getElementById("login-form").requestSubmit()`);
  await page.waitFor(
    `document.querySelectorAll("#health-tiles .stat").length >= 8`,
    "the health tiles",
  );
}

Deno.test({
  name: "console: every page in chromium, sign-in, keys shown as text, edited and deleted",
  sanitizeResources: false,
  async fn(t) {
    const [dir, cleanup] = await tempDir("cityhall-console-test-");
    let serve: ServeProcess | undefined;
    let browser: Browser | undefined;
    try {
      serve = await startServe(dir, [], { env: { CITYHALL_AUTH_TOKEN: TOKEN } });
      const base = `http://127.0.0.1:${serve.httpPort}`;
      browser = await Browser.launch();
      const page = await browser.newPage();

      await t.step(
        "sign-in: a wrong token is refused, the right one opens the console",
        async () => {
          await page.goto(`${base}/`);
          await page.waitFor(`!document.getElementById("login").hidden`, "the sign-in form");
          await page.fill("#token", "not-the-token");
          await page.eval(`document.getElementById("login-form").requestSubmit()`);
          await page.waitFor(
            `document.getElementById("login-error").textContent.includes("Wrong token")`,
          );
          await page.fill("#token", TOKEN);
          await page.eval(`document.getElementById("login-form").requestSubmit()`);
          await page.waitFor(
            `document.querySelectorAll("#health-tiles .stat").length >= 8`,
            "the health tiles",
          );
          assertEquals(await page.eval(`sessionStorage.getItem("cityhall.token")`), TOKEN);
          assertEquals(await page.eval(`document.cookie`), "");
          const href = await page.eval<string>(`location.href`);
          assert(!href.includes(TOKEN), href);
          const paint = await page.eval<number>(
            `performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1`,
          );
          console.log(`first contentful paint: ${paint.toFixed(1)} ms (loopback, loaded machine)`);
        },
      );

      await t.step("health: live tiles and the session charts draw", async () => {
        await page.waitFor(
          `Number(document.getElementById("ops-chart").dataset.points) >= 1`,
          "the operations chart",
        );
        const text = await page.eval<string>(`document.getElementById("health-tiles").innerText`);
        for (const part of ["Operations/s", "Memtable", "Compactions", "WAL", "Disk: SSTables"]) {
          assertStringIncludes(text, part);
        }
        const shot = pixelStats(decodePng(await page.screenshot()));
        assert(shot.colours > 20 && shot.nonBackgroundShare > 0.05, JSON.stringify(shot));
      });

      const evil = "web.<img src=x onerror=alert(1)>";
      const binary = new Uint8Array([0x77, 0x65, 0x62, 0x2e, 0xff, 0x00]); // "web.\xff\0"
      await t.step("keys: a prefix scan shows keys and values as text, never markup", async () => {
        await api(base, `/v1/keys/${pct(new TextEncoder().encode(evil))}`, {
          method: "PUT",
          body: "<script>alert(2)</script>",
        });
        await api(base, "/v1/keys/web.plain", { method: "PUT", body: "hello" });
        await api(base, `/v1/keys/${pct(binary)}`, {
          method: "PUT",
          body: new Uint8Array([0, 1, 2, 255]),
        });
        await page.eval(`location.hash = "#/keys?prefix=web."`);
        await page.waitFor(`document.querySelectorAll("#key-list tbody tr").length === 3`);
        const keys = await page.eval<string[]>(
          `[...document.querySelectorAll("#key-list tbody tr td:first-child")].map((td) => td.textContent)`,
        );
        assertEquals(keys.sort(), [evil, "web.plain", "web.\\xff\\x00"].sort());
        const values = await page.eval<string>(`document.getElementById("key-list").textContent`);
        assertStringIncludes(values, "<script>alert(2)</script>");
        assertEquals(
          await page.eval(`document.querySelectorAll("main img, main script").length`),
          0,
        );
      });

      await t.step("key page: edit a text value and a binary one (hex)", async () => {
        await page.eval(
          `[...document.querySelectorAll("#key-list a")].find((a) => a.textContent === "web.plain").click()`,
        );
        await page.waitFor(`document.getElementById("value-editor")?.value === "hello"`);
        await page.fill("#value-editor", "hello, edited");
        await page.click("#save");
        await page.waitFor(
          `document.getElementById("save-status").textContent.startsWith("Saved")`,
        );
        const res = await api(base, "/v1/keys/web.plain");
        assertEquals(await res.text(), "hello, edited");

        await page.eval(`location.hash = "#/key?k=${pct(binary)}"`);
        await page.waitFor(`document.getElementById("value-editor")?.value === "00 01 02 ff"`);
        assertEquals(await page.eval(`document.querySelector("select[name=mode]").value`), "hex");
        await page.fill("#value-editor", "0a 0b");
        await page.click("#save");
        await page.waitFor(
          `document.getElementById("save-status").textContent.startsWith("Saved")`,
        );
        const bin = await api(base, `/v1/keys/${pct(binary)}`);
        assertEquals(new Uint8Array(await bin.arrayBuffer()), new Uint8Array([0x0a, 0x0b]));
      });

      await t.step("keys: create one with the form, delete one after confirming", async () => {
        await page.eval(`location.hash = "#/keys?prefix=web."`);
        await page.waitFor(`document.querySelectorAll("#key-list tbody tr").length === 3`);
        await page.fill("input[name=key]", "web.new");
        await page.fill("textarea[name=value]", "fresh");
        await page.eval(`document.getElementById("new-key-form").requestSubmit()`);
        await page.waitFor(`document.querySelectorAll("#key-list tbody tr").length === 4`);
        assertEquals(await (await api(base, "/v1/keys/web.new")).text(), "fresh");
        const del =
          `[...document.querySelectorAll("#key-list tbody tr")].find((tr) => tr.firstChild.textContent === "web.new").querySelector("button")`;
        await page.eval(`${del}.click()`);
        await page.waitFor(`${del}.textContent.startsWith("Confirm")`);
        await page.eval(`${del}.click()`);
        await page.waitFor(`document.querySelectorAll("#key-list tbody tr").length === 3`);
        assertEquals((await api(base, "/v1/keys/web.new")).status, 404);
      });

      await t.step("replication, series and chart pages load", async () => {
        await page.eval(`location.hash = "#/replication"`);
        await page.waitFor(
          `document.getElementById("replication")?.textContent.includes("standalone")`,
        );
        await page.waitFor(`document.getElementById("uplinks") !== null`);
        await page.eval(`location.hash = "#/series"`);
        await page.waitFor(`document.getElementById("series-form") !== null`);
        await page.eval(`location.hash = "#/chart"`);
        await page.waitFor(
          `document.getElementById("chart-status")?.textContent.includes("Pick series")`,
        );
      });

      await t.step(
        "series: created through the API, listed, charted, zoomed, exported",
        async () => {
          const probe = await api(base, "/v1/series");
          await probe.body?.cancel();
          if (probe.status === 404) {
            // A build without the time-series layer: the page says so rather than failing.
            await page.eval(`location.hash = "#/series"`);
            await page.waitFor(
              `document.querySelector("main .error")?.textContent.includes("no time-series routes")`,
            );
            return;
          }
          const start = Date.now() - 600_000;
          const series: [string, Record<string, string>, (i: number) => number][] = [
            ["lab.temp", { room: "lab", kind: "temp" }, (i) => 20 + 3 * Math.sin(i / 60)],
            ["lab.humidity", { room: "lab", kind: "humidity" }, (i) => 50 + 10 * Math.cos(i / 60)],
          ];
          for (const [key, labels, f] of series) {
            const samples = Array.from({ length: 600 }, (_, i) => [start + i * 1000, f(i)]);
            const res = await api(base, `/v1/series/${key}/samples`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ samples, labels }),
            });
            assertEquals(res.status, 200, await res.text());
          }
          await page.eval(`location.hash = "#/series?filter=room%3Dlab"`);
          await page.waitFor(`document.querySelectorAll("#series-list tbody tr").length === 2`);
          assertStringIncludes(
            await page.eval<string>(`document.getElementById("series-list").textContent`),
            "kind=humidity",
          );

          await page.eval(`location.hash = "#/chart?k=lab.temp&k=lab.humidity&range=15m"`);
          await page.waitFor(`Number(document.getElementById("chart")?.dataset.points) > 0`);
          assertStringIncludes(
            await page.eval<string>(`document.getElementById("chart-status").textContent`),
            "2 series",
          );
          const box = await page.box("#chart");
          const chart = decodePng(await page.screenshot(box));
          for (const colour of ["#1f77b4", "#d62728"]) {
            assert(countColour(chart, colour) > 100, `no ${colour} line on the chart`);
          }

          const bucketBefore = Number(
            await page.eval(`document.getElementById("chart").dataset.bucketMs`),
          );
          const renders = Number(
            await page.eval(`document.getElementById("chart").dataset.renders`),
          );
          const over = await page.box("#chart .u-over");
          const y = over.y + over.height / 2;
          await page.drag(over.x + over.width * 0.3, over.x + over.width * 0.6, y);
          await page.waitFor(
            `Number(document.getElementById("chart").dataset.renders) > ${renders} && location.hash.includes("from=")`,
            "the zoomed chart",
          );
          const bucketAfter = Number(
            await page.eval(`document.getElementById("chart").dataset.bucketMs`),
          );
          assert(bucketAfter < bucketBefore, `bucket ${bucketBefore} → ${bucketAfter}`);

          const downloads = await Deno.makeTempDir({ prefix: "cityhall-console-dl-" });
          try {
            await browser!.downloadsTo(downloads);
            await page.click("#csv");
            let csv = "";
            const deadline = Date.now() + 60_000;
            while (csv === "" && Date.now() < deadline) {
              for (const e of Deno.readDirSync(downloads)) {
                if (e.name.endsWith(".csv")) csv = Deno.readTextFileSync(`${downloads}/${e.name}`);
              }
              await new Promise((r) => setTimeout(r, 100));
            }
            assert(
              csv.startsWith("timestamp_ms,time_utc,lab.temp,lab.humidity\r\n"),
              csv.slice(0, 200),
            );
            assert(csv.split("\r\n").length > 10);
          } finally {
            await Deno.remove(downloads, { recursive: true });
          }

          await page.eval(`location.hash = "#/chart?k=lab.temp&range=15m&live=1&every=2s"`);
          await page.waitFor(
            `Number(document.getElementById("chart")?.dataset.renders) >= 3`,
            "two live refreshes",
          );
          await page.eval(`location.hash = "#/keys?prefix=lab."`);
          await page.waitFor(`document.querySelectorAll("#key-list tbody tr").length === 2`);
          assertStringIncludes(
            await page.eval<string>(`document.getElementById("key-list").textContent`),
            "series",
          );
        },
      );

      await t.step("no script error and no CSP violation on any page", () => {
        assertEquals(page.errors(), []);
      });

      await t.step("Trusted Types: the page refuses HTML from a string", async () => {
        const probe = await browser!.newPage();
        await signIn(probe, base);
        const refused = await probe.eval<boolean>(`(() => {
          try { document.body.innerHTML = "<b>x</b>"; return false; } catch { return true; }
        })()`);
        assert(refused, "innerHTML accepted a string");
        assert(
          probe.errors().some((m) => /trusted/i.test(m.text)),
          JSON.stringify(probe.messages),
        );
      });

      await t.step("sign out forgets the token", async () => {
        await page.click("#logout");
        await page.waitFor(`!document.getElementById("login").hidden`);
        assertEquals(await page.eval(`sessionStorage.getItem("cityhall.token")`), null);
      });
    } finally {
      await browser?.close();
      await serve?.stop();
      await cleanup();
    }
  },
});
