/**
 * How the CLI prints replies: `redis-cli`'s human format for the prompt (`"value"`, `(nil)`,
 * `(integer) 5`, `(error) ERR …`, numbered arrays), JSON for `--json`, and INFO text parsed
 * into sections.
 *
 * @module
 */

import type { RespReply } from "./resp_client.ts";

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/** Quotes bytes like `redis-cli` (`sdscatrepr`): printable ASCII as is, the rest escaped. */
export function quoteBytes(bytes: Uint8Array): string {
  let out = '"';
  for (const c of bytes) {
    if (c === 92) out += "\\\\";
    else if (c === 34) out += '\\"';
    else if (c === 10) out += "\\n";
    else if (c === 13) out += "\\r";
    else if (c === 9) out += "\\t";
    else if (c === 7) out += "\\a";
    else if (c === 8) out += "\\b";
    else if (c >= 32 && c < 127) out += String.fromCharCode(c);
    else out += "\\x" + c.toString(16).padStart(2, "0");
  }
  return out + '"';
}

/**
 * Formats a reply as `redis-cli` does on a terminal. Recursion follows the reply's nesting,
 * which `ReplyReader` bounds by `REPLY_DEPTH_MAX`.
 */
export function formatReply(reply: RespReply): string {
  switch (reply.kind) {
    case "simple":
      return reply.value;
    case "error":
      return `(error) ${reply.value}`;
    case "integer":
      return `(integer) ${reply.value}`;
    case "bulk":
      return reply.value === null ? "(nil)" : quoteBytes(reply.value);
    case "double":
      return `(double) ${formatDouble(reply.value)}`;
    case "boolean":
      return reply.value ? "(true)" : "(false)";
    case "array": {
      if (reply.value === null) return "(nil)";
      const set = reply.resp3 === "set";
      if (reply.value.length === 0) {
        return set ? "(empty set)" : reply.resp3 === "push" ? "(empty push)" : "(empty array)";
      }
      return numbered(reply.value.map((item) => formatReply(item)), set ? "~" : ")");
    }
    case "map": {
      if (reply.value.length === 0) return "(empty hash)";
      return numbered(
        reply.value.map(([k, v]) => {
          const key = formatReply(k);
          const pad = " ".repeat(key.length + 4);
          const [first, ...rest] = formatReply(v).split("\n");
          return [`${key} => ${first}`, ...rest.map((l) => pad + l)].join("\n");
        }),
        "#",
      );
    }
  }
}

/** Items labelled `1) `, `2) ` (or `1~ ` for a set, `1# ` for a map), nested lines indented. */
function numbered(items: string[], mark: string): string {
  const width = String(items.length).length;
  const lines: string[] = [];
  items.forEach((text, i) => {
    const label = `${String(i + 1).padStart(width)}${mark} `;
    const pad = " ".repeat(label.length);
    const inner = text.split("\n");
    lines.push(label + inner[0], ...inner.slice(1).map((l) => pad + l));
  });
  return lines.join("\n");
}

/** A double as RESP3 writes it (`inf`, `-inf`, `nan`, or the shortest decimal). */
function formatDouble(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  return String(n);
}

/** Bytes as a JSON value: a string when they are UTF-8, else `{ "base64": … }`. */
export function bytesToJson(bytes: Uint8Array): string | { base64: string } {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return { base64: btoa(binary) };
  }
}

/** A reply as a JSON value (errors become `{ "error": … }`, integers numbers or strings). */
export function replyToJson(reply: RespReply): unknown {
  switch (reply.kind) {
    case "simple":
      return reply.value;
    case "error":
      return { error: reply.value };
    case "integer":
      return reply.value >= BigInt(Number.MIN_SAFE_INTEGER) &&
          reply.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(reply.value)
        : String(reply.value);
    case "bulk":
      return reply.value === null ? null : bytesToJson(reply.value);
    case "array":
      return reply.value === null ? null : reply.value.map(replyToJson);
    case "double":
      return Number.isFinite(reply.value) ? reply.value : formatDouble(reply.value);
    case "boolean":
      return reply.value;
    case "map": {
      // An object when every key is text, as a RESP3 map from Redis always has; else pairs.
      const keys = reply.value.map(([k]) => replyToJson(k));
      if (keys.every((k) => typeof k === "string")) {
        return Object.fromEntries(reply.value.map(([, v], i) => [keys[i], replyToJson(v)]));
      }
      return reply.value.map(([k, v]) => [replyToJson(k), replyToJson(v)]);
    }
  }
}

/** INFO text as `{ section: { field: value } }` (section names lowercased). */
export function parseInfo(text: string): Record<string, Record<string, string | number>> {
  const out: Record<string, Record<string, string | number>> = {};
  let section: Record<string, string | number> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      section = {};
      out[line.slice(1).trim().toLowerCase()] = section;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const value = line.slice(colon + 1);
    section[line.slice(0, colon)] = /^-?(0|[1-9]\d*)(\.\d+)?$/.test(value) && value.length < 16
      ? Number(value)
      : value;
  }
  return out;
}
