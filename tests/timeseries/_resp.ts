/**
 * A compact view of RESP replies for time-series command tests: integers as numbers, bulk
 * strings as strings (null for nil), simple strings as "+text", errors as "-text", arrays as
 * arrays. So `[1000, "+30"]` is a sample as RedisTimeSeries replies it.
 */

import { RespClient, type RespReply } from "../../src/cli/resp_client.ts";
import { startTestServer, type TestServer } from "../server/_helpers.ts";
import { Database } from "../../src/mod.ts";
import type { FaultFs } from "../../src/fs/fault_fs.ts";
import { startServer } from "../../src/server/mod.ts";

/** A reply as a plain value (see the module comment). */
export type Plain = number | string | null | Plain[];

/** Converts a reply. */
export function plain(reply: RespReply): Plain {
  switch (reply.kind) {
    case "simple":
      return `+${reply.value}`;
    case "error":
      return `-${reply.value}`;
    case "integer":
      return Number(reply.value);
    case "bulk":
      return reply.value === null ? null : new TextDecoder().decode(reply.value);
    case "array":
      return reply.value === null ? null : reply.value.map(plain);
    // RESP3 kinds (after HELLO 3), which these tests do not ask for.
    case "double":
      return reply.value;
    case "boolean":
      return reply.value ? 1 : 0;
    case "map":
      return reply.value.flatMap(([k, v]) => [plain(k), plain(v)]);
  }
}

/** A client that sends commands as strings and answers plain values. */
export class PlainClient {
  private constructor(readonly client: RespClient) {}

  /** Connects to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<PlainClient> {
    return new PlainClient(await RespClient.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends one command (arguments as strings or bytes). */
  async send(...args: (string | number | Uint8Array)[]): Promise<Plain> {
    return plain(
      await this.client.command(args.map((a) => typeof a === "number" ? String(a) : a)),
    );
  }

  /** Closes the connection. */
  close(): void {
    this.client.close();
  }
}

/** Runs `fn` with a plain client of a fresh test server, closing both after. */
export async function withServer(
  fn: (c: PlainClient, s: TestServer) => Promise<void>,
): Promise<void> {
  const s = await startTestServer();
  const c = await PlainClient.connect(s.port);
  try {
    await fn(c, s);
  } finally {
    c.close();
    await s.close();
  }
}

/**
 * Runs `fn` with a plain client of a server over the database in `fs` (opened with
 * `syncMode: "always"`, then closed): calling it again with the same `fs` reopens what the
 * first run wrote.
 */
export async function withDatabaseIn(
  fs: FaultFs,
  fn: (c: PlainClient) => Promise<void>,
): Promise<void> {
  const db = await Database.open("/db", { fs, syncMode: "always" });
  const server = await startServer(db, { hostname: "127.0.0.1", port: 0 });
  const c = await PlainClient.connect(server.addr.port);
  try {
    await fn(c);
  } finally {
    c.close();
    await server.close();
    await db.close();
  }
}
