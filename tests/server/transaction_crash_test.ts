/**
 * kill -9 during transactions (issue 7.1): a `cityhall serve` child runs back-to-back
 * transactions `MULTI; SET t:0 g … SET t:199 g; EXEC` (generation g, 2 KiB values, so one
 * transaction is ~400 KiB of WAL) from a few clients; it gets SIGKILL at a seeded random
 * moment. After a restart every `t:*` key must hold the same generation (a transaction is all
 * or nothing), and no EXEC that was answered may be lost. Rounds accumulate in one directory.
 * CITYHALL_CRASH_ROUNDS sets the rounds (default 3); CITYHALL_SEED the seed.
 *
 * "Lost" is judged by the server's execution order, not by generation numbers: clients take
 * generations when they start sending a ~400 KiB transaction, so with several clients a lower
 * generation can execute (and be answered) after a higher one and rightly overwrite it. Each
 * transaction therefore begins with `INCR t:order`; EXEC's reply carries that position, and
 * after a restart `t:order` must be at least the newest answered position, with the `t:*` keys
 * holding the generation that executed at the stored position.
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
  const parts = [encodeCommand(["MULTI"]), encodeCommand(["INCR", "t:order"])];
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

/**
 * Sends transactions until the connection dies; calls `onExec(g, order)` for each answered
 * EXEC, with the execution position its `INCR t:order` got.
 */
async function loadClient(
  port: number,
  nextGeneration: () => number,
  onExec: (g: number, order: number) => void,
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
      while (replies < KEYS + 3) {
        const reply = reader.next();
        if (reply === undefined) {
          const n = await conn.read(chunk);
          if (n === null) return;
          reader.push(chunk.subarray(0, n));
          continue;
        }
        replies++;
        if (replies === KEYS + 3) {
          if (reply.kind !== "array" || reply.value === null) {
            throw new Error(`EXEC of generation ${g}: not an array`);
          }
          const order = reply.value[0];
          if (order?.kind !== "integer") throw new Error(`EXEC of generation ${g}: INCR reply`);
          onExec(g, Number(order.value));
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

/**
 * The generation every `t:*` key holds (asserting they agree; 0 when none exists) and the
 * stored execution position `t:order` (0 when none).
 */
async function storedState(port: number): Promise<{ generation: number; order: number }> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    const keys = Array.from({ length: KEYS }, (_, k) => `t:${k}`);
    const reply = await client.command(["MGET", "t:order", ...keys]);
    if (reply.kind !== "array" || reply.value === null) throw new Error("MGET: not an array");
    const [orderReply, ...values] = reply.value;
    const order = orderReply?.kind === "bulk" && orderReply.value !== null
      ? Number(decoder.decode(orderReply.value))
      : 0;
    const generations = values.map((r, k) => {
      if (r.kind !== "bulk" || r.value === null) return 0;
      const [g, key] = decoder.decode(r.value).split("|");
      assertEquals(Number(key), k, "value under the wrong key");
      return Number(g);
    });
    assert(
      generations.every((g) => g === generations[0]),
      `a transaction was torn: generations ${[...new Set(generations)].join(", ")}`,
    );
    return { generation: generations[0]!, order };
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
  // Newest answered execution position, and the generation each answered position wrote.
  let newestAcked = 0;
  const generationAt = new Map<number, number>();
  const check = async (port: number, when: string) => {
    const stored = await storedState(port);
    assert(
      stored.order >= newestAcked,
      `${when}: EXEC at position ${newestAcked} answered, then lost (stored ${stored.order})`,
    );
    const expected = generationAt.get(stored.order);
    if (expected !== undefined) {
      assertEquals(stored.generation, expected, `${when}: keys of position ${stored.order}`);
    }
    return stored;
  };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const serve = await startServe(dir, ["--no-http"]);
      await check(serve.port, `round ${round}`);
      let acks = 0;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const killAfterMs = rng.int(400);
      const onExec = (g: number, order: number) => {
        generationAt.set(order, g);
        newestAcked = Math.max(newestAcked, order);
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
      const stored = await check(serve.port, "after the last round");
      console.log(
        `newest answered position ${newestAcked}, stored position ${stored.order} ` +
          `(generation ${stored.generation}), generations sent ${generation}`,
      );
    } finally {
      await serve.stop();
    }
  } finally {
    await cleanup();
  }
});
