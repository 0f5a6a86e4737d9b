/**
 * MONITOR: every command run by any client, streamed to monitoring clients as one status line
 * each, in Redis's format. ARCHITECTURE.md § "Operator commands" (MONITOR).
 *
 * ```
 * +1700000000.123456 [0 127.0.0.1:50412] "set" "k" "v"\r\n
 * ```
 *
 * Seconds and microseconds of the time the command started, the db and the client's address,
 * then every argument quoted like Redis's `sdscatrepr` (`\\ \" \n \r \t \a \b`, other bytes
 * outside 0x20-0x7e as `\xhh`). Like Redis 7.0: commands flagged `admin` (and admin subcommands)
 * are not shown, commands of a transaction are shown when EXEC runs them (then EXEC itself), a
 * command is shown after it ran, and the arguments of AUTH (and HELLO's AUTH pair) read
 * `(redacted)`. A monitor is a pubsub-class client for its output limits (Redis counts it
 * `normal`): one that stops reading is closed at the pubsub hard limit.
 *
 * @module
 */

import { MONITOR_CLIENTS_MAX } from "../limits.ts";
import type { Client, CommandSpec } from "./context.ts";
import { lower, ReplyError } from "./context.ts";
import { type PubSubHost, pushTo } from "./pubsub.ts";

const encoder = new TextEncoder();
const REDACTED = encoder.encode("(redacted)");
const HEX = "0123456789abcdef";

/** `bytes` quoted like Redis's `sdscatrepr`. */
export function reprBytes(bytes: Uint8Array): string {
  let s = '"';
  for (const c of bytes) {
    switch (c) {
      case 92:
        s += "\\\\";
        break;
      case 34:
        s += '\\"';
        break;
      case 10:
        s += "\\n";
        break;
      case 13:
        s += "\\r";
        break;
      case 9:
        s += "\\t";
        break;
      case 7:
        s += "\\a";
        break;
      case 8:
        s += "\\b";
        break;
      default:
        if (c >= 0x20 && c <= 0x7e) s += String.fromCharCode(c);
        else s += "\\x" + HEX[c >> 4] + HEX[c & 15];
    }
  }
  return s + '"';
}

/**
 * Arguments as logs show them (MONITOR, SLOWLOG): AUTH's and HELLO's AUTH pair replaced by
 * `(redacted)`, as Redis does.
 */
export function redactArgs(name: string, args: readonly Uint8Array[]): readonly Uint8Array[] {
  if (name === "auth") return args.map((a, i) => (i === 0 ? a : REDACTED));
  if (name === "hello") {
    const out = args.slice();
    for (let i = 2; i < out.length; i++) {
      if (lower(out[i]!) === "auth") {
        for (let j = i + 1; j <= i + 2 && j < out.length; j++) out[j] = REDACTED;
        break;
      }
    }
    return out;
  }
  return args;
}

/** Subcommands flagged `admin` in Redis 7.0 (container commands of our table). */
const ADMIN_SUBCOMMANDS: Record<string, ReadonlySet<string>> = {
  client: new Set(["kill", "list", "pause", "unpause", "no-evict", "unblock", "tracking"]),
  slowlog: new Set(["get", "len", "reset"]),
  latency: new Set(["latest", "history", "reset", "graph", "doctor", "histogram"]),
};

/** True when Redis hides `args` (a run of `spec`) from MONITOR: admin commands. */
export function hiddenFromMonitor(spec: CommandSpec, args: readonly Uint8Array[]): boolean {
  if (spec.flags.includes("admin")) return true;
  const subs = ADMIN_SUBCOMMANDS[spec.name];
  return subs !== undefined && args.length > 1 && subs.has(lower(args[1]!));
}

/** The clients in MONITOR mode. */
export class MonitorFeed {
  readonly #clients = new Set<Client>();
  readonly #host: PubSubHost;

  /** A feed writing through `host`'s limits. */
  constructor(host: PubSubHost) {
    this.#host = host;
  }

  /** Monitoring clients. */
  get size(): number {
    return this.#clients.size;
  }

  /** Puts `client` in MONITOR mode (no-op when it already is). */
  add(client: Client): void {
    if (client.monitor) return;
    if (this.#clients.size >= MONITOR_CLIENTS_MAX) {
      throw new ReplyError(`ERR Too many MONITOR clients: at most ${MONITOR_CLIENTS_MAX}`);
    }
    client.monitor = true;
    this.#clients.add(client);
  }

  /** Takes `client` out of MONITOR mode (RESET, disconnect). */
  remove(client: Client): void {
    client.monitor = false;
    this.#clients.delete(client);
  }

  /** Streams one command line to every monitor. */
  feed(from: Client, name: string, args: readonly Uint8Array[], startMs: number): void {
    const us = Math.floor(startMs * 1000);
    const sec = Math.floor(us / 1_000_000);
    const frac = String(us % 1_000_000).padStart(6, "0");
    let line = `+${sec}.${frac} [0 ${from.addr}]`;
    for (const a of redactArgs(name, args)) line += " " + reprBytes(a);
    const bytes = encoder.encode(line + "\r\n");
    for (const c of this.#clients) {
      if (c.closed) continue;
      if (c === from) c.out.raw(bytes);
      else pushTo(this.#host, c, bytes);
    }
  }
}
