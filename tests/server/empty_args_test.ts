/**
 * Empty-string arguments (issue 8.8): `INFO ""` answered an internal error. Every command is
 * sent with one to three empty arguments: none may answer an internal error or close the
 * connection, and the replies of the commands both servers implement the same way are compared
 * with a real redis-server 7.
 */
import { assert, assertEquals } from "@std/assert";
import { closeRedis, command, connectRedis, startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";

const decoder = new TextDecoder();

/** Sends one command on a fresh connection and returns the raw reply text. */
async function ask(port: number, args: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new Uint8Array([...command(...args), ...command("QUIT")]);
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    let text = "";
    const buf = new Uint8Array(1 << 16);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Commands whose replies to empty arguments must match Redis byte for byte. */
const COMPARED = [
  ["INFO", ""],
  ["INFO", "", ""],
  ["GET", ""],
  ["SET", "", ""],
  ["SET", "k", "v", ""],
  ["GETEX", "", ""],
  ["INCRBY", "k", ""],
  ["INCRBYFLOAT", "k", ""],
  ["EXPIRE", "k", ""],
  ["EXPIRE", "k", "10", ""],
  ["SETRANGE", "k", "", "v"],
  ["GETRANGE", "k", "", ""],
  ["SELECT", ""],
  ["ECHO", ""],
  ["PING", ""],
  ["EXISTS", ""],
  ["DEL", ""],
  ["TYPE", ""],
  ["RENAME", "", ""],
  ["COPY", "", ""],
  ["SCAN", ""],
  ["SCAN", "0", ""],
  ["SCAN", "0", "COUNT", ""],
  ["CLIENT", ""],
  ["CLIENT", "SETNAME", ""],
  ["CONFIG", "GET", ""],
  ["CONFIG", "SET", "", ""],
  ["CONFIG", "SET", "timeout", ""],
  ["COMMAND", "INFO", ""],
  ["COMMAND", ""],
  ["WAIT", "", ""],
  ["HELLO", ""],
  ["AUTH", "", ""],
  ["WATCH", ""],
  ["MGET", ""],
  ["MSET", "", ""],
  ["SETEX", "k", "", "v"],
  ["PSETEX", "k", "", "v"],
  ["FLUSHDB", ""],
  ["BGSAVE", ""],
  ["SHUTDOWN", "", ""],
];

Deno.test('INFO "" and other empty arguments answer like redis-server 7', async () => {
  const redis = await startRedisServer();
  const t = await startTestServer();
  try {
    for (const args of COMPARED) {
      const want = await ask(redis.port, args);
      const got = await ask(t.port, args);
      assertEquals(got, want, JSON.stringify(args));
    }
  } finally {
    await t.close();
    await redis.stop();
  }
});

Deno.test("no command answers an internal error to empty arguments", async () => {
  const t = await startTestServer();
  const r = await connectRedis(t.port, { protocol: 2 });
  try {
    const names = (await r.call("command", "list") as string[])
      .filter((n) => !["shutdown", "quit", "flushdb", "flushall", "exec", "multi"].includes(n));
    for (const name of names) {
      for (let n = 1; n <= 3; n++) {
        const args = [name, ...Array.from({ length: n }, () => "")];
        const reply = await ask(t.port, args);
        assert(!reply.includes("internal error"), `${JSON.stringify(args)} → ${reply}`);
        assert(
          reply.endsWith("+OK\r\n"),
          `${JSON.stringify(args)} closed the connection: ${reply}`,
        );
      }
    }
  } finally {
    await closeRedis(r);
    await t.close();
  }
});
