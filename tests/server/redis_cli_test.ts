/**
 * redis-cli's operator modes against a `cityhall serve` child, as issue 14 found them answering
 * `unknown command`: `monitor`, `--memkeys`, `--bigkeys`, `--hotkeys` (which, as with Redis under
 * a non-LFU maxmemory-policy, stops with Redis's error), `--latency`, and `subscribe`.
 */
import { assert, assertEquals } from "@std/assert";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { closeRedis, connectRedis, sleep } from "./_helpers.ts";
import { type ChildResult, runChild, spawnChild } from "../_helpers/child.ts";

/** Runs redis-cli with `args` against `port`; interrupts it after `ms` (for endless modes). */
function redisCli(port: number, args: string[], ms = 30_000): Promise<ChildResult> {
  return runChild("redis-cli", ["-p", String(port), ...args], {
    killAfterMs: ms,
    killSignal: "SIGINT",
  });
}

Deno.test("redis-cli monitor, --memkeys, --bigkeys, --hotkeys, --latency and subscribe against serve", async () => {
  const [dir, cleanup] = await tempDir("cityhall-redis-cli-");
  const serve = await startServe(dir, ["--no-http"]);
  const r = await connectRedis(serve.port, { protocol: 2 });
  try {
    for (let i = 1; i <= 20; i++) await r.set(`key${i}`, "x".repeat(i * 10));
    await r.set("int", "12345");
    // A time series: a type redis-cli does not know, sized by MEMORY USAGE like any key.
    await r.call("TS.ADD", "series", "1", "1");
    const seriesBytes = await r.call("MEMORY", "USAGE", "series") as number;

    const memkeys = await redisCli(serve.port, ["--memkeys"]);
    assertEquals(memkeys.code, 0, memkeys.stderr);
    // MEMORY USAGE as Redis 7 reports it: key20 (200 bytes) takes 272, like key19.
    assert(
      /Biggest string found '"key(19|20)"' has 272 bytes/.test(memkeys.stdout),
      memkeys.stdout,
    );
    assert(memkeys.stdout.includes("21 strings with 3424 bytes"), memkeys.stdout);
    assert(
      memkeys.stdout.includes(`1 TSDB-TYPEs with ${seriesBytes} bytes`),
      memkeys.stdout,
    );

    const bigkeys = await redisCli(serve.port, ["--bigkeys"]);
    assertEquals(bigkeys.code, 0, bigkeys.stderr);
    assert(bigkeys.stdout.includes(`Biggest string found '"key20"' has 200 bytes`), bigkeys.stdout);
    assert(bigkeys.stdout.includes("21 strings with 2105 bytes"), bigkeys.stdout);
    assert(bigkeys.stdout.includes("1 TSDB-TYPEs with 0 ?"), bigkeys.stdout);

    const hotkeys = await redisCli(serve.port, ["--hotkeys"]);
    assertEquals(hotkeys.code, 1);
    assert(hotkeys.stderr.includes("ERR An LFU maxmemory policy is not selected"), hotkeys.stderr);

    const latency = await redisCli(serve.port, ["--latency"], 1500);
    // Non-interactive: one line "min max avg samples" when interrupted.
    assert(/^\d+ \d+ [\d.]+ \d+\s*$/.test(latency.stdout.trim()), JSON.stringify(latency));

    const monitor = spawnChild("redis-cli", ["-p", String(serve.port), "monitor"]);
    await sleep(300);
    await r.set("watched", "a b");
    await r.get("watched");
    await monitor.waitForLine('"get" "watched"', { stream: "stdout", timeoutMs: 60_000 })
      .catch(() => {});
    const seen = (await monitor.kill("SIGINT")).stdout;
    assert(seen.startsWith("OK\n"), seen);
    assert(/\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "set" "watched" "a b"\n/.test(seen), seen);

    const sub = spawnChild("redis-cli", ["-p", String(serve.port), "subscribe", "news"]);
    const subDeadline = Date.now() + 15_000;
    while (!sub.stdout.includes("news") && Date.now() < subDeadline) await sleep(20);
    await r.publish("news", "hello");
    while (!sub.stdout.includes("hello") && Date.now() < subDeadline) await sleep(20);
    const got = (await sub.kill("SIGINT")).stdout;
    assert(got.includes("message\nnews\nhello"), got);
  } finally {
    await closeRedis(r);
    await serve.stop();
    await cleanup();
  }
});
