/**
 * A full disk with a real server on a real, small file system (issue 7.3): a tmpfs mounted for
 * the test (the tests run as root, in CI too). `cityhall serve` fills it: writes it cannot keep
 * are answered `-ERR disk full: …` (HTTP 507) and never readable, every acknowledged write
 * survives a restart, and once space is freed writes are accepted again without a restart. A
 * server started on a full disk opens, serves reads and refuses writes with one log line.
 */

import { assert, assertEquals } from "@std/assert";
import * as nodeFs from "node:fs";
import { Database } from "../../src/mod.ts";
import type { Redis } from "../server/_helpers.ts";
import { closeRedis, connectRedis } from "../server/_helpers.ts";
import { type ServeProcess, startServe } from "./_helpers.ts";
import { runChild } from "../_helpers/child.ts";

const MiB = 1024 * 1024;

/** Mounts a tmpfs of `sizeMiB` on a fresh directory. */
async function mountTmpfs(sizeMiB: number): Promise<{ dir: string; unmount(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-tmpfs-" });
  const out = await runChild("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeMiB}m,mode=0700`,
    "tmpfs",
    dir,
  ]);
  if (out.code !== 0) {
    throw new Error(
      `Cannot mount a tmpfs on ${dir} (this test runs as root, as CI does): ${out.stderr}`,
    );
  }
  return {
    dir,
    async unmount() {
      await runChild("umount", [dir], { stdout: "null", stderr: "null" });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

function freeBytes(dir: string): number {
  const s = nodeFs.statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Fills `dir` with a file leaving about `leaveBytes` free. */
async function fill(dir: string, leaveBytes: number): Promise<string> {
  const path = `${dir}/filler`;
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(MiB).fill(1);
  try {
    for (let left = freeBytes(dir) - leaveBytes; left > 0; left -= chunk.length) {
      await file.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
    }
  } finally {
    file.close();
  }
  return path;
}

function tmpFiles(dataDir: string): string[] {
  const out: string[] = [];
  for (const d of [dataDir, `${dataDir}/wal`]) {
    for (const e of Deno.readDirSync(d)) if (e.name.endsWith(".tmp")) out.push(`${d}/${e.name}`);
  }
  return out;
}

/** Random, incompressible text of `n` bytes. */
function noise(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n / 2));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function httpPut(port: number, key: string, value: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/keys/${key}`, {
    method: "PUT",
    body: value,
  });
  await res.body?.cancel();
  return res.status;
}

/** Sets `key` until it is accepted (bounded); returns how many tries it took. */
async function setUntilAccepted(client: Redis, key: string): Promise<number> {
  for (let i = 1; i <= 3000; i++) {
    try {
      await client.set(key, "after");
      return i;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error("writes were never accepted again");
}

function count(log: string, message: string): number {
  return log.split("\n").filter((l) => l.includes(message)).length;
}

/**
 * Two ways to fill the disk: tables past the space left (1 MiB memtables, and 1 MiB WAL
 * segments so that the WAL's next segment always fits), or a WAL whose next segment (growing
 * with the write rate towards 32 MiB) finds no room (the tmpfs holds two once the filler goes).
 */
const FILLS = [
  {
    cause: "a flush",
    during: /during=flush/,
    sizeMiB: 64,
    args: ["--memtable-mb", "1", "--wal-segment-mb", "1"],
    leaveMiB: 6,
    valueBytes: 16 * 1024,
  },
  {
    cause: "the WAL's next segment",
    during: /during="WAL append"/,
    sizeMiB: 80,
    args: [],
    leaveMiB: 8,
    valueBytes: 64 * 1024,
  },
];

for (const fillCase of FILLS) {
  Deno.test({
    name:
      `cityhall serve on a tmpfs filled by ${fillCase.cause}: -ERR disk full and 507, no dirty read, nothing acknowledged lost, writes again without a restart`,
    sanitizeResources: false,
    fn: async () => {
      const fs = await mountTmpfs(fillCase.sizeMiB);
      const dataDir = `${fs.dir}/data`;
      let serve: ServeProcess | undefined;
      let client: Redis | undefined;
      try {
        serve = await startServe(dataDir, fillCase.args);
        client = await connectRedis(serve.port);
        // Leave a few MiB: room for a few tables and WAL segments, not for many.
        const filler = await fill(fs.dir, fillCase.leaveMiB * MiB);
        const acked = new Map<string, string>();
        const refused: string[] = [];
        let error = "";
        for (let i = 0; i < 5000 && refused.length < 10; i++) {
          const key = `k${i}`;
          const value = noise(fillCase.valueBytes);
          try {
            await client.set(key, value);
            acked.set(key, value);
          } catch (err) {
            error = (err as Error).message;
            refused.push(key);
            // Answered with an error, so never readable: not now, not after a restart.
            assertEquals(await client.get(key), null, `refused ${key} is readable`);
          }
        }
        assert(refused.length === 10, `no write was refused (${acked.size} accepted)`);
        assert(error.startsWith("ERR disk full: "), error);
        assert(acked.size > 20, `only ${acked.size} writes accepted before the disk filled`);
        assertEquals(await httpPut(serve.httpPort!, "via-http", "x"), 507);
        assertEquals(tmpFiles(dataDir), [], "a failed attempt left a temp file");
        assertEquals(count(serve.log(), "disk full: refusing writes"), 1, serve.log());
        assert(fillCase.during.test(serve.log()), serve.log());
        for (const key of [...acked.keys()].slice(-20)) {
          assertEquals(await client.get(key), acked.get(key));
        }

        // Space is freed: writes are accepted again by the same process.
        await Deno.remove(filler);
        await setUntilAccepted(client, "after-free");
        assert(serve.log().includes("disk space available again"), serve.log());
        assertEquals(await httpPut(serve.httpPort!, "via-http", "x"), 204);
        if (Deno.env.get("CITYHALL_TEST_LOG") !== undefined) console.error(serve.log());

        await closeRedis(client);
        assertEquals(await serve.stop(), 0);
        serve = await startServe(dataDir, fillCase.args);
        client = await connectRedis(serve.port);
        for (const [key, value] of acked) assertEquals(await client.get(key), value, key);
        for (const key of refused) assertEquals(await client.get(key), null, key);
        assertEquals(await client.get("after-free"), "after");
      } finally {
        if (client) await closeRedis(client).catch(() => {});
        await serve?.stop();
        await fs.unmount();
      }
    },
  });
}

Deno.test({
  name:
    "cityhall serve started on a full tmpfs opens, serves reads, refuses writes with one log line, and writes once space exists",
  sanitizeResources: false,
  fn: async () => {
    const fs = await mountTmpfs(48);
    const dataDir = `${fs.dir}/data`;
    let serve: ServeProcess | undefined;
    let client: Redis | undefined;
    try {
      // Data written earlier (small WAL segments, so that it fits beside the filler).
      const db = await Database.open(dataDir, { walSegmentSizeBytes: 64 * 1024 });
      for (let i = 0; i < 100; i++) await db.put(`k${i}`, `v${i}`);
      await db.close();
      // Less than the first WAL segment (1 MiB) needs.
      const filler = await fill(fs.dir, 512 * 1024);
      serve = await startServe(dataDir);
      client = await connectRedis(serve.port);
      assertEquals(await client.get("k42"), "v42");
      const err = await client.set("new", "x").then(() => "", (e) => (e as Error).message);
      assert(err.startsWith("ERR disk full: cannot create WAL segment"), err);
      assertEquals(await httpPut(serve.httpPort!, "new", "x"), 507);
      assertEquals(count(serve.log(), "disk full: refusing writes"), 1, serve.log());
      assertEquals(tmpFiles(dataDir), [], "the failed preallocation left its .wal.tmp");
      await Deno.remove(filler);
      await setUntilAccepted(client, "new");
      assertEquals(await client.get("new"), "after");
      assertEquals(await client.get("k99"), "v99");
    } finally {
      if (client) await closeRedis(client).catch(() => {});
      await serve?.stop();
      await fs.unmount();
    }
  },
});
