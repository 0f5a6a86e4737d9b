/**
 * Pieces of talking to a server that the client commands and the prompt share: error
 * replies as exceptions, the prefix scan over SCAN and MGET, and connect errors in words.
 *
 * @module
 */

import { formatHostPort } from "./_common.ts";
import type { RespClient, RespReply } from "./resp_client.ts";

/** Keys asked per SCAN round trip of a prefix scan. */
export const SCAN_PAGE_KEYS = 1000;

const decoder = new TextDecoder();

/** The server answered a command with an error reply. */
export class ServerReplyError extends Error {
  /** Creates the error from the reply text (`ERR …`). */
  constructor(message: string) {
    super(message);
    this.name = "ServerReplyError";
  }
}

/** Returns `reply`, or throws `ServerReplyError` when it is an error reply. */
export function expectOk(reply: RespReply): RespReply {
  if (reply.kind === "error") throw new ServerReplyError(reply.value);
  return reply;
}

/** Escapes glob metacharacters so `prefix` matches only itself in SCAN MATCH. */
export function escapeGlob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => "\\" + c);
}

/** Keys and values under `prefix` from a server, with SCAN MATCH prefix* then MGET per page. */
export async function* remoteScan(
  client: RespClient,
  prefix: string,
  limit: number | undefined,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let cursor = "0";
  let yielded = 0;
  const pattern = escapeGlob(prefix) + "*";
  do {
    const count = limit === undefined
      ? SCAN_PAGE_KEYS
      : Math.max(1, Math.min(SCAN_PAGE_KEYS, limit - yielded));
    const reply = expectOk(
      await client.command(["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)]),
    );
    const page = reply.kind === "array" ? reply.value : null;
    const next = page?.[0];
    const keysReply = page?.[1];
    if (next?.kind !== "bulk" || next.value === null || keysReply?.kind !== "array") {
      throw new ServerReplyError("Unexpected SCAN reply");
    }
    cursor = decoder.decode(next.value);
    const keys = (keysReply.value ?? []).flatMap((k) =>
      k.kind === "bulk" && k.value !== null ? [k.value] : []
    );
    if (keys.length === 0) continue;
    const values = expectOk(await client.command(["MGET", ...keys]));
    if (values.kind !== "array" || values.value === null) {
      throw new ServerReplyError("Unexpected MGET reply");
    }
    for (let i = 0; i < keys.length; i++) {
      const v = values.value[i];
      // Deleted between SCAN and MGET: it no longer exists.
      if (v?.kind !== "bulk" || v.value === null) continue;
      yield [keys[i]!, v.value];
      if (limit !== undefined && ++yielded >= limit) return;
    }
  } while (cursor !== "0");
}

/** A connect error in words, naming the address. */
export function describeConnectError(err: unknown, hostname: string, port: number): string {
  const where = formatHostPort(hostname, port);
  if (err instanceof Deno.errors.ConnectionRefused) {
    return `Cannot connect to ${where}: connection refused (is "cityhall serve" running? ` +
      `set --host/--port)`;
  }
  const reason = err instanceof Error ? err.message : String(err);
  return `Cannot connect to ${where}: ${reason}`;
}
