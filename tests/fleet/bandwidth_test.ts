/**
 * Bandwidth rules over real sockets: the rate limit measured at both ends, sync windows that
 * open and close on an injected clock, and frames sized to the rate (so a cut costs about a
 * second of link time).
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { Database } from "../../src/engine/mod.ts";
import { parseWindows, type UplinkClock } from "../../src/fleet/pacer.ts";
import {
  addTestSite,
  contentUnder,
  eventually,
  removeDir,
  startTestEdge,
  startTestHub,
  waitForSiteEqual,
} from "./_helpers.ts";

/** Writes `n` values of `size` random (incompressible) bytes to a fresh edge directory. */
async function seededEdgeDir(n: number, size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-edge-bw-" });
  const db = await Database.open(dir);
  const value = new Uint8Array(size);
  for (let i = 0; i < n; i += 16) {
    const ops = [];
    for (let j = i; j < Math.min(n, i + 16); j++) {
      crypto.getRandomValues(value);
      ops.push({ type: "put" as const, key: `blob${j}`, value: value.slice() });
    }
    await db.write(ops);
  }
  await db.close();
  return dir;
}

Deno.test("uplink: --uplink-rate-limit holds the link to its bytes per second (measured at both ends)", async () => {
  const limit = 32 * 1024;
  const dir = await seededEdgeDir(128, 1024);
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "slow");
  const started = performance.now();
  const edge = await startTestEdge(hub.port, "slow", token, {
    dir,
    rateLimitBytesPerSec: limit,
  });
  try {
    await edge.uplink.waitForAck(edge.db.lastSeq);
    const seconds = (performance.now() - started) / 1000;
    const sent = edge.uplink.status().wireBytes;
    const received = hub.hub.statuses()[0]!.wireBytes;
    const rate = sent / seconds;
    console.log(
      `sent ${sent} B (hub counted ${received} B of frames) in ${seconds.toFixed(2)} s: ${
        Math.round(rate)
      } B/s against a limit of ${limit} B/s`,
    );
    assert(sent > 128 * 1024, "random data does not compress");
    // A rate limit is an upper bound: allow one slice of burst over the run, no more.
    assert(rate <= limit * 1.2, `rate ${rate} B/s over the limit ${limit}`);
    // Generous: a loaded machine may be slower, but not an order of magnitude.
    assert(rate >= limit * 0.25, `rate ${rate} B/s far below the limit ${limit}`);
    await waitForSiteEqual(hub.db, edge.db, "slow");
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(dir);
    await removeDir(hub.dir);
  }
});

/** A clock whose UTC time of day is `start` ("HH:MM:SS.mmm") when created, moving with time. */
function clockAt(start: string): UplinkClock {
  const [h, m, s] = start.split(":").map(Number) as [number, number, number];
  const now = Date.now();
  const dayStart = now - (now % 86_400_000);
  const offset = dayStart + ((h * 60 + m) * 60 + s) * 1000 - now;
  return {
    nowMs: () => Date.now() + offset,
    localMinuteOfDay: (ms) => Math.floor(ms / 60_000) % 1440,
  };
}

Deno.test("uplink: --uplink-window waits for the window, then syncs inside it", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "clinic");
  // Two seconds before the window opens; it lasts one minute of the injected clock.
  const edge = await startTestEdge(hub.port, "clinic", token, {
    windows: parseWindows("01:00-01:01"),
    clock: clockAt("00:59:58.000"),
  });
  try {
    await edge.db.put("early", "1");
    await eventually(() => edge.uplink.state === "waiting", "waiting for the window");
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(hub.hub.statuses()[0]!.state, "offline", "no contact outside the window");
    assertEquals((await contentUnder(hub.db, "clinic/")).size, 0);
    assertEquals(edge.uplink.status().inWindow, false);
    // The window opens at 01:00 of the injected clock.
    await edge.uplink.waitForAck(edge.db.lastSeq);
    assertEquals(edge.uplink.status().inWindow, true);
    await waitForSiteEqual(hub.db, edge.db, "clinic");
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});

Deno.test("uplink: a link open when its window ends is closed, and writes wait for the next window", async () => {
  const hub = await startTestHub();
  const token = await addTestSite(hub.dir, "sat");
  const edge = await startTestEdge(hub.port, "sat", token, {
    windows: parseWindows("13:00-13:30,01:00-01:01"),
    clock: clockAt("01:00:58.500"),
  });
  try {
    await edge.db.put("inside", "1");
    await edge.uplink.waitForAck(edge.db.lastSeq);
    await eventually(() => edge.uplink.state === "waiting", "the window closed", 1000);
    await eventually(() => hub.hub.statuses()[0]!.state === "offline", "the hub saw it go");
    assert(edge.log.lines.some((l) => l.includes("uplink window closed")));
    await edge.db.put("after", "2");
    await new Promise((r) => setTimeout(r, 700));
    assertEquals([...(await contentUnder(hub.db, "sat/")).keys()], ["inside"]);
    assertEquals(edge.uplink.status().behindEntries, 1);
  } finally {
    await edge.close();
    await hub.close();
    await removeDir(edge.dir);
    await removeDir(hub.dir);
  }
});
