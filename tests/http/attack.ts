/**
 * Measures the HTTP attacks of issue 8 against a spawned `cityhall serve` (not a test: numbers,
 * no assertions). Run from the repository root:
 *
 * ```sh
 * deno run -A tests/http/attack.ts bodies     # 8 concurrent 60 MB batch bodies: peak RSS
 * deno run -A tests/http/attack.ts deepjson   # 2/19/76 MB of '[' on /v1/batch: PING stalls
 * deno run -A tests/http/attack.ts bigjson    # 70 MB batches that parse, then fail: PING p99
 * deno run -A tests/http/attack.ts slowloris  # 2,000 trickling heads, 3 rounds: closes and RSS
 * ```
 *
 * `--main PATH` runs another checkout's `src/main.ts` (e.g. the code before a change); extra
 * arguments after `--` go to `cityhall serve`.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { PingProbe, type ProbeReport, rssBytes } from "../_helpers/fuzz.ts";
import { RawClient } from "./_raw.ts";
import { spawnScript } from "../_helpers/child.ts";

const flags = parseArgs(Deno.args, { string: ["main"], "--": true });
const mode = String(flags._[0] ?? "");
const main = flags.main ?? new URL("../../src/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const MB = 1e6;

const dir = await Deno.makeTempDir({ prefix: "cityhall-attack-" });
const child = spawnScript(
  main,
  [
    "serve",
    "--data-dir",
    dir,
    "--port",
    "0",
    "--http-port",
    "0",
    "--sync",
    "none",
    ...flags["--"],
  ],
  { stdout: "null" },
);
const listening = await child.waitForListening();
const respPort = listening.port("resp")!;
const httpPort = listening.port("http")!;

function peakRss(): number {
  const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function probeText(p: ProbeReport): string {
  return `PING n=${p.count} p50 ${p.p50Ms.toFixed(1)} p99 ${p.p99Ms.toFixed(1)} max ${
    p.maxMs.toFixed(1)
  } ms, ${p.failures} failed`;
}

/** POSTs `body` to `/v1/batch` on its own connection; the status line or "closed". */
async function post(body: Uint8Array): Promise<string> {
  const c = await RawClient.connect(httpPort);
  try {
    await c.send(`POST /v1/batch HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
    await c.send(body);
    const res = await c.response(120_000);
    return res === undefined ? "closed" : String(res.status);
  } finally {
    c.close();
  }
}

async function timed(name: string, body: Uint8Array): Promise<void> {
  const probe = PingProbe.start(respPort, { intervalMs: 5 });
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  const status = await post(body);
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 100));
  console.log(
    `${name} (${(body.length / MB).toFixed(0)} MB): ${status} in ${ms.toFixed(0)} ms; ` +
      `${probeText(await probe.stop())}; peak RSS ${(peakRss() / MB).toFixed(0)} MB`,
  );
}

console.log(`${mode}: ${main}, idle RSS ${(rssBytes(child.pid) / MB).toFixed(0)} MB`);
if (mode === "bodies") {
  const value = "x".repeat(15_000_000);
  const body = encoder.encode(
    JSON.stringify({ ops: [0, 1, 2, 3].map((i) => ({ op: "put", key: `big${i}`, value })) }),
  );
  const probe = PingProbe.start(respPort);
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: 8 }, () => post(body)));
  console.log(
    `8 × ${(body.length / MB).toFixed(0)} MB in ${(performance.now() - t0).toFixed(0)} ms: ` +
      `${statuses.join(",")}; peak RSS ${(peakRss() / MB).toFixed(0)} MB; ${
        probeText(await probe.stop())
      }`,
  );
} else if (mode === "deepjson") {
  for (const size of [2e6, 19e6, 76e6]) {
    const body = new Uint8Array(size).fill(0x5b, 0, size / 2).fill(0x5d, size / 2);
    await timed("deep JSON", body);
  }
} else if (mode === "bigjson") {
  const ops = Array.from({ length: 10_000 }, (_, i) => ({
    op: "put",
    key: `k${i}`,
    value: "v".repeat(7000),
  }));
  await timed("10,000 ops then an unknown field", encoder.encode(JSON.stringify({ ops, x: 1 })));
  await timed(
    "escaped strings then an unknown field",
    encoder.encode(JSON.stringify({ ops: [], x: '\n"'.repeat(10_000_000) })),
  );
} else if (mode === "slowloris") {
  for (let round = 1; round <= 3; round++) {
    const conns: RawClient[] = [];
    for (let i = 0; i < 2000; i++) {
      const c = await RawClient.connect(httpPort);
      await c.send("GET /v1/keys/a HTTP/1.1\r\nHost: a\r\nX-Slow: ");
      conns.push(c);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const open = rssBytes(child.pid);
    const t0 = performance.now();
    const closed = await Promise.all(conns.map((c) => c.closedWithin(30_000)));
    const ms = performance.now() - t0;
    for (const c of conns) c.close();
    await new Promise((r) => setTimeout(r, 2000));
    console.log(
      `round ${round}: 2,000 open, RSS ${(open / MB).toFixed(0)} MB; ` +
        `${closed.filter(Boolean).length} closed by the server within ${ms.toFixed(0)} ms; ` +
        `2 s later RSS ${(rssBytes(child.pid) / MB).toFixed(0)} MB`,
    );
  }
} else {
  console.log("usage: deno run -A tests/http/attack.ts bodies|deepjson|bigjson|slowloris");
}
await child.kill("SIGTERM");
await Deno.remove(dir, { recursive: true });
