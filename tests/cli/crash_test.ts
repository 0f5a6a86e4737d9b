/**
 * kill -9 during load, with real processes (issue 3): a `cityhall serve` process takes several
 * concurrent clients each pipelining SETs (depth 16, unique keys, values derived from the
 * key); every SET answered `+OK` is recorded; the server gets SIGKILL at a random moment;
 * `serve` is restarted on the same data directory and every recorded SET must be there with
 * its value. Rounds accumulate in one directory, so recovery also runs on top of earlier
 * recoveries. CITYHALL_CLI_CRASH_ROUNDS sets the rounds (default 5); CITYHALL_SEED the seed.
 */

import { assert, assertEquals } from "@std/assert";
import { encodeCommand, ReplyReader, RespClient } from "../../src/cli/resp_client.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { startServe, tempDir } from "./_helpers.ts";

const ROUNDS = intFromEnv("CITYHALL_CLI_CRASH_ROUNDS", 5);
const CLIENTS = 6;
const PIPELINE_DEPTH = 16;
/** SETs acknowledged in a round before the kill timer starts. */
const ACKS_BEFORE_KILL_MIN = 200;

const decoder = new TextDecoder();

function valueOf(key: string): string {
  // Derived from the key, so a value under the wrong key (or a torn one) is caught.
  return `${key}|${key.length}|${"x".repeat(40 + key.length % 50)}`;
}

/** Pipelines SETs until the connection fails; records each key answered +OK. */
async function loadClient(
  port: number,
  prefix: string,
  acked: Map<string, string>,
  onAck: () => void,
): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return;
  }
  const reader = new ReplyReader();
  const chunk = new Uint8Array(64 * 1024);
  let seq = 0;
  try {
    while (true) {
      const keys: string[] = [];
      const parts: Uint8Array[] = [];
      for (let i = 0; i < PIPELINE_DEPTH; i++) {
        const key = `${prefix}-${seq++}`;
        keys.push(key);
        parts.push(encodeCommand(["SET", key, valueOf(key)]));
      }
      const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
      let off = 0;
      for (const p of parts) {
        bytes.set(p, off);
        off += p.length;
      }
      for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
      let answered = 0;
      while (answered < keys.length) {
        const reply = reader.next();
        if (reply === undefined) {
          const n = await conn.read(chunk);
          if (n === null) return;
          reader.push(chunk.subarray(0, n));
          continue;
        }
        const key = keys[answered++]!;
        if (reply.kind === "simple" && reply.value === "OK") {
          acked.set(key, valueOf(key));
          onAck();
        }
      }
    }
  } catch {
    // The server died mid-pipeline: whatever was answered is recorded.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Checks with pipelined GETs that every acknowledged key holds its value. */
async function verify(port: number, acked: Map<string, string>): Promise<void> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const replies = await client.pipeline(batch.map((k) => ["GET", k]));
      replies.forEach((reply, j) => {
        const key = batch[j]!;
        const got = reply.kind === "bulk" && reply.value !== null
          ? decoder.decode(reply.value)
          : undefined;
        assertEquals(got, acked.get(key), `acknowledged SET of ${key} lost after kill -9`);
      });
    }
  } finally {
    client.close();
  }
}

Deno.test(`cityhall serve keeps every SET answered OK across ${ROUNDS} kill -9 rounds`, async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay the kill timing)`);
  const rng = new Rng(seed);
  const [dir, cleanup] = await tempDir("cityhall-cli-crash-");
  const acked = new Map<string, string>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const serve = await startServe(dir, ["--no-http"]);
      // Everything acknowledged in earlier rounds survived the previous kill.
      await verify(serve.port, acked);
      let roundAcks = 0;
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      const killAfterMs = rng.int(300);
      const onAck = () => {
        if (++roundAcks === ACKS_BEFORE_KILL_MIN) {
          killTimer = setTimeout(() => serve.child.kill("SIGKILL"), killAfterMs);
        }
      };
      const clients = Array.from(
        { length: CLIENTS },
        (_, c) => loadClient(serve.port, `r${round}-c${c}`, acked, onAck),
      );
      const code = await serve.exited;
      await Promise.all(clients);
      clearTimeout(killTimer);
      assert(roundAcks >= ACKS_BEFORE_KILL_MIN, `round ${round}: only ${roundAcks} acks`);
      assertEquals(code, 137, `round ${round}: serve exited with ${code}, not by SIGKILL`);
    }
    const serve = await startServe(dir, ["--no-http"]);
    try {
      await verify(serve.port, acked);
    } finally {
      assertEquals(await serve.stop(), 0);
    }
    console.log(`${acked.size} acknowledged SETs checked over ${ROUNDS} rounds`);
  } finally {
    await cleanup();
  }
});
