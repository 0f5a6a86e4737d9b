/**
 * Test harness: a real `Database` in a temp dir served by a real HTTP server on port 0.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { Database, type DatabaseOptions } from "../../src/mod.ts";
import { type HttpServer, type HttpServerOptions, startHttpServer } from "../../src/http/mod.ts";
import { attachRegistry, type Registry } from "../../src/metrics/mod.ts";
import { type Logger, silentLogger } from "../../src/util/log.ts";

/** What a test body gets. */
export interface Harness {
  db: Database;
  server: HttpServer;
  /** Base URL without a trailing slash. */
  url: string;
  /** `fetch` against the server, with the token when the harness has one. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** Options of `withServer`. */
export interface HarnessOptions {
  authToken?: string;
  bodySizeBytesMax?: number;
  /** Stats attached to the database as a RESP server's would be (a stand-in for one). */
  metrics?: Registry;
  db?: DatabaseOptions;
  logger?: Logger;
  /** More server options (deadlines, caps, budget). */
  server?: Partial<HttpServerOptions>;
}

/** Runs `fn` against a fresh database and server, then shuts both down and removes the dir. */
export async function withServer(
  fn: (h: Harness) => Promise<void>,
  options: HarnessOptions = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cityhall-http-test-" });
  const db = await Database.open(dir, options.db ?? {});
  const serverOptions: HttpServerOptions = {
    hostname: "127.0.0.1",
    port: 0,
    logger: options.logger ?? silentLogger,
    ...options.server,
  };
  if (options.authToken !== undefined) serverOptions.authToken = options.authToken;
  if (options.bodySizeBytesMax !== undefined) {
    serverOptions.bodySizeBytesMax = options.bodySizeBytesMax;
  }
  if (options.metrics !== undefined) attachRegistry(db, "resp", options.metrics);
  const server = await startHttpServer(db, serverOptions);
  const url = server.url;
  const h: Harness = {
    db,
    server,
    url,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (options.authToken !== undefined && !headers.has("authorization")) {
        headers.set("authorization", `Bearer ${options.authToken}`);
      }
      return fetch(url + path, { ...init, headers });
    },
  };
  try {
    await fn(h);
  } finally {
    await server.shutdown();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads a JSON body and checks the status. */
export async function json(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assertEquals(res.status, status, `status ${res.status}: ${text}`);
  assert(
    res.headers.get("content-type")?.startsWith("application/json"),
    `content-type ${res.headers.get("content-type")}`,
  );
  return JSON.parse(text);
}

/** Checks an error response: the status and a JSON `{ "error": "…" }` containing `fragment`. */
export async function expectError(
  res: Response,
  status: number,
  fragment = "",
): Promise<string> {
  const body = await json(res, status);
  const message = body.error;
  if (typeof message !== "string" || message.length === 0) {
    throw new Error(`No error message: ${JSON.stringify(body)}`);
  }
  assert(
    message.includes(fragment),
    `error ${JSON.stringify(message)} lacks ${JSON.stringify(fragment)}`,
  );
  return message;
}

/** Percent-encodes every byte (keys with slashes, binary keys). */
export function encodeKeyPath(key: Uint8Array | string): string {
  const bytes = typeof key === "string" ? new TextEncoder().encode(key) : key;
  let out = "";
  for (const b of bytes) out += "%" + b.toString(16).padStart(2, "0").toUpperCase();
  return out;
}

/** UTF-8 encodes a string. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
