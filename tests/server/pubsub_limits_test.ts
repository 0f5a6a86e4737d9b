/**
 * A subscriber that stops reading (issue 14: "a subscriber that stops reading is disconnected at a
 * named output-buffer limit; memory never grows without bound") against a `cityhall serve`
 * child: it is closed at the pubsub hard limit (32 MiB by default, Redis's
 * `client-output-buffer-limit pubsub 32mb 8mb 60`) while PUBLISH keeps answering and a reading
 * subscriber keeps receiving everything; the server's RSS stays bounded; the soft limit closes a
 * subscriber above it for its seconds; a MONITOR that stops reading is bounded the same way.
 */
import { assert, assertEquals } from "@std/assert";
import { rssBytes } from "../_helpers/fuzz.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";
import { PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT } from "../../src/limits.ts";
import { closeRedis, command, connectRedis, sleep } from "./_helpers.ts";

const MiB = 1024 * 1024;
/** RSS growth allowed above the baseline: the 32 MiB of queued messages plus slack. */
const RSS_GROWTH_BYTES_MAX = 128 * MiB;

/** Polls INFO stats until `field` reaches `value` (60 s at most). */
async function eventuallyStat(port: number, field: string, value: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await infoStat(port, field)) < value) {
    if (Date.now() > deadline) throw new Error(`${field} never reached ${value}`);
    await sleep(100);
  }
}

async function infoStat(port: number, field: string): Promise<number> {
  const r = await connectRedis(port, { protocol: 2 });
  try {
    const m = new RegExp(`^${field}:(\\d+)`, "m").exec(await r.info("stats"));
    if (m === null) throw new Error(`no ${field} in INFO stats`);
    return Number(m[1]);
  } finally {
    await closeRedis(r);
  }
}

/** A connection that sends `bytes` and then never reads; `closed` resolves when the server closes it. */
async function stalled(port: number, bytes: Uint8Array) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(bytes);
  // Give the command time to run before the socket fills: nothing is read afterwards.
  await sleep(200);
  return {
    /** Resolves true once the server closed the socket (read then drains what was sent). */
    async closedWithin(ms: number): Promise<boolean> {
      const timer = setTimeout(() => conn.close(), ms);
      const buf = new Uint8Array(1 << 20);
      try {
        while ((await conn.read(buf)) !== null) { /* drain */ }
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** A raw subscriber that reads everything and counts message frames on `channel`. */
async function reader(port: number, channel: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(command("SUBSCRIBE", channel));
  let bytes = 0;
  const done = (async () => {
    const buf = new Uint8Array(1 << 20);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        bytes += n;
      }
    } catch { /* closed */ }
  })();
  return {
    get bytes() {
      return bytes;
    },
    async close() {
      conn.close();
      await done;
    },
  };
}

Deno.test("a subscriber that stops reading is closed at the pubsub hard limit; PUBLISH goes on; RSS bounded", async () => {
  const [dir, cleanup] = await tempDir("cityhall-pubsub-");
  const serve = await startServe(dir, ["--no-http", "--sync", "always"]);
  const pub = await connectRedis(serve.port, { protocol: 2 });
  try {
    const before = rssBytes(serve.child.pid);
    const slow = await stalled(serve.port, command("SUBSCRIBE", "feed"));
    const good = await reader(serve.port, "feed");
    await sleep(100);
    const message = "x".repeat(16 * 1024);
    let peak = before;
    let published = 0;
    let receivers = 2;
    // Publish until the stalled subscriber is gone (it takes ~32 MiB of queued messages).
    while (receivers === 2) {
      const replies = await Promise.all(
        Array.from({ length: 64 }, () => pub.publish("feed", message)),
      );
      published += replies.length;
      receivers = Math.min(...replies);
      peak = Math.max(peak, rssBytes(serve.child.pid));
      assert(published < 100_000, "the stalled subscriber was never closed");
    }
    assertEquals(receivers, 1, "PUBLISH still reaches the reading subscriber");
    assert(await slow.closedWithin(10_000), "the stalled subscriber's socket was closed");
    assertEquals(await infoStat(serve.port, "client_output_buffer_limit_disconnections"), 1);
    assert(serve.log().includes("pubsub output buffer limit reached"), serve.log());
    // It was closed no earlier than the limit: at least 32 MiB were published to it.
    assert(published * message.length >= PUBSUB_OUTPUT_HARD_LIMIT_BYTES_DEFAULT);
    // The reading subscriber gets every message.
    const frame =
      `*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$${message.length}\r\n${message}\r\n`.length;
    const deadline = Date.now() + 60_000;
    while (good.bytes < published * frame && Date.now() < deadline) await sleep(20);
    assert(good.bytes >= published * frame, `reader got ${good.bytes} of ${published * frame}`);
    const growth = peak - before;
    console.log(
      `published ${published} × ${message.length} B; RSS before ${(before / MiB).toFixed(1)} ` +
        `MiB, peak +${(growth / MiB).toFixed(1)} MiB (bound ${RSS_GROWTH_BYTES_MAX / MiB} MiB)`,
    );
    assert(growth < RSS_GROWTH_BYTES_MAX, `RSS grew by ${growth} bytes`);
    await good.close();
  } finally {
    await closeRedis(pub);
    await serve.stop();
    await cleanup();
  }
});

Deno.test("pubsub soft limit: above it for its seconds closes the subscriber; a MONITOR is bounded too", async () => {
  const [dir, cleanup] = await tempDir("cityhall-pubsub-");
  const serve = await startServe(dir, ["--no-http", "--sync", "always"]);
  const pub = await connectRedis(serve.port, { protocol: 2 });
  try {
    assertEquals(
      await pub.config("SET", "client-output-buffer-limit", "pubsub 0 1mb 1"),
      "OK",
    );
    const slow = await stalled(serve.port, command("SUBSCRIBE", "feed"));
    const message = "y".repeat(64 * 1024);
    // Well above 1 MiB of queued messages plus whatever the kernel buffers take.
    for (let i = 0; i < 256; i++) await pub.publish("feed", message);
    // Not reading meanwhile: reading would drain it below the soft limit.
    await eventuallyStat(serve.port, "client_output_buffer_limit_disconnections", 1);
    assert(await slow.closedWithin(15_000), "closed after 1 s above the soft limit");
    assertEquals(await pub.publish("feed", "after"), 0);
    // A MONITOR that stops reading: closed at the pubsub hard limit.
    await pub.config("SET", "client-output-buffer-limit", "pubsub 2mb 0 0");
    const monitor = await stalled(serve.port, command("MONITOR"));
    const value = "z".repeat(64 * 1024);
    for (
      let i = 0;
      i < 512 && (await infoStat(serve.port, "client_output_buffer_limit_disconnections")) < 2;
      i++
    ) {
      await pub.set("k", value);
    }
    assert(await monitor.closedWithin(15_000), "the monitor was closed");
    assertEquals(await infoStat(serve.port, "client_output_buffer_limit_disconnections"), 2);
  } finally {
    await closeRedis(pub);
    await serve.stop();
    await cleanup();
  }
});
