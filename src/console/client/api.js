// The console's only way to the server: fetch() with the token in an Authorization header
// (kept in sessionStorage: this tab only, gone when it closes; never in a URL, never a cookie).

import { percentEncode, toBase64, utf8Bytes } from "./bytes.js";

const TOKEN_KEY = "cityhall.token";

/** The token of this tab, or "" when none was entered. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Stores the token for this tab ("" forgets it). */
export function setToken(value) {
  if (value === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/** An answer other than 2xx: the status and the server's JSON error message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

let onUnauthorized = () => {};

/** Sets what happens when the server answers 401 (the app shows the sign-in form). */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** Sends a request; resolves with the Response on 2xx, throws ApiError otherwise. */
export async function request(method, path, options = {}) {
  const headers = new Headers(options.headers ?? {});
  const t = token();
  if (t !== "") headers.set("authorization", `Bearer ${t}`);
  const res = await fetch(path, {
    method,
    headers,
    body: options.body,
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
    signal: options.signal,
  });
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  if (res.status === 401) onUnauthorized(message);
  throw new ApiError(res.status, message);
}

/** GET → parsed JSON. */
export async function getJson(path, signal) {
  return await (await request("GET", path, { signal })).json();
}

/** POST a JSON body → parsed JSON answer. */
export async function postJson(path, body) {
  const res = await request("POST", path, {
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  return await res.json();
}

/** GET → text. */
export async function getText(path, signal) {
  return await (await request("GET", path, { signal })).text();
}

/** The path of a key route: `/v1/keys/` plus every byte of the key percent-encoded. */
export function keyPath(keyBytes) {
  return `/v1/keys/${percentEncode(keyBytes)}`;
}

/** The path of a series route (`/v1/series/{key}`), key as text. */
export function seriesPath(key) {
  return `/v1/series/${percentEncode(utf8Bytes(key))}`;
}

/** A query string from an object, skipping undefined and empty values. */
export function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    const bytes = v instanceof Uint8Array ? v : utf8Bytes(String(v));
    parts.push(`${k}=${percentEncode(bytes)}`);
  }
  return parts.length === 0 ? "" : `?${parts.join("&")}`;
}

/**
 * Puts or deletes keys atomically through `POST /v1/batch`, keys and values in base64 (exact for
 * any byte, and any key, even one a URL path cannot carry).
 */
export async function writeBatch(ops) {
  return await postJson("/v1/batch", {
    ops: ops.map((op) => {
      const out = { op: op.op, key: toBase64(op.key), encoding: "base64" };
      if (op.op === "put") out.value = toBase64(op.value);
      if (op.ttlMs !== undefined) out.ttl_ms = op.ttlMs;
      return out;
    }),
  });
}
