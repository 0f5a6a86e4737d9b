/**
 * kill -9 during transactions (issue 7.1): a `cityhall serve` child runs back-to-back
 * transactions `MULTI; SET t:0 g … SET t:199 g; EXEC` (generation g, 2 KiB values, so one
 * transaction is ~400 KiB of WAL) from a few clients; it gets SIGKILL at a seeded random
 * moment. After a restart every `t:*` key must hold the same generation (a transaction is all
 * or nothing), and no older than the newest EXEC that was answered. Rounds accumulate in one
 * directory. CITYHALL_CRASH_ROUNDS sets the rounds (default 3); CITYHALL_SEED the seed.
 */

import { assert, assertEquals } from "@std/assert";
import { encodeCommand, ReplyReader, RespClient } from "../../src/cli/resp_client.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";

const ROUNDS = intFromEnv("CITYHALL_CRASH_ROUNDS", 3);
const KEYS = 200;
const CLIENTS = 3;
const decoder = new TextDecoder();

function transaction(generation: number): Uint8Array {
  const pad = "x".repeat(2048);
  const parts = [encodeCommand(["MULTI"])];
  for (let k = 0; k < KEYS; k++) {
    parts.push(encodeCommand(["SET", `t:${k}`, `${generation}|${k}|${pad}`]));
  }
  parts.push(encodeCommand(["EXEC"]));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Sends transactions until the connection dies; calls `onExec(g)` for each answered EXEC. */
async function loadClient(
  port: number,
  nextGeneration: () => number,
  onExec: (g: number) => void,
): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return;
  }
  const reader = new ReplyReader();
  const chunk = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const g = nextGeneration();
      const bytes = transaction(g);
      for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
      let replies = 0;
      while (replies < KEYS + 2) {
        const reply = reader.next();
        if (reply === undefined) {
          const n = await conn.read(chunk);
          if (n === null) return;
          reader.push(chunk.subarray(0, n));
          continue;
        }
        replies++;
        if (replies === KEYS + 2) {
          assertEquals(reply.kind, "array", `EXEC of generation ${g}`);
          onExec(g);
        }
      }
    }
  } catch {
    // The server died mid-transaction.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** The generation every `t:*` key holds (asserting they agree), or 0 when none exists. */
async function storedGeneration(port: number): Promise<number> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    const keys = Array.from({ length: KEYS }, (_, k) => `t:${k}`);
    const reply = await client.command(["MGET", ...keys]);
    if (reply.kind !== "array" || reply.value === null) throw new Error("MGET: not an array");
    const generations = reply.value.map((r, k) => {
      if (r.kind !== "bulk" || r.value === null) return 0;
      const [g, key] = decoder.decode(r.value).split("|");
      assertEquals(Number(key), k, "value under the wrong key");
      return Number(g);
    });
    assert(
      generations.every((g) => g === generations[0]),
      `a transaction was torn: generations ${[...new Set(generations)].join(", ")}`,
    );
    return generations[0]!;
  } finally {
    client.close();
  }
}

Deno.test(`a transaction is all or nothing across ${ROUNDS} kill -9 rounds`, async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay the kill timing)`);
  const rng = new Rng(seed);
  const [dir, cleanup] = await tempDir("cityhall-txn-crash-");
  let generation = 0;
  let newestAcked = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const serve = await startServe(dir, ["--no-http"]);
      const stored = await storedGeneration(serve.port);
      assert(stored >= newestAcked, `round ${round}: EXEC of ${newestAcked} answered, lost`);
      let acks = 0;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const killAfterMs = rng.int(400);
      const onExec = (g: number) => {
        newestAcked = Math.max(newestAcked, g);
        if (++acks === 5) killTimer = setTimeout(() => serve.child.kill("SIGKILL"), killAfterMs);
      };
      const clients = Array.from(
        { length: CLIENTS },
        () => loadClient(serve.port, () => ++generation, onExec),
      );
      const code = await serve.exited;
      await Promise.all(clients);
      clearTimeout(killTimer);
      assert(acks >= 5, `round ${round}: only ${acks} transactions answered`);
      assertEquals(code, 137, `round ${round}: serve exited with ${code}, not by SIGKILL`);
    }
    const serve = await startServe(dir, ["--no-http"]);
    try {
      const stored = await storedGeneration(serve.port);
      assert(stored >= newestAcked, `EXEC of generation ${newestAcked} answered, then lost`);
      console.log(
        `newest answered ${newestAcked}, stored ${stored}, generations sent ${generation}`,
      );
    } finally {
      await serve.stop();
    }
  } finally {
    await cleanup();
  }
});
