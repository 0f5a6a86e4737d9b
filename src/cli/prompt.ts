/**
 * The `cityhall client` prompt: reads commands line by line from a terminal (showing
 * `127.0.0.1:7878> `) or from a pipe (no prompt), sends them over RESP and prints the replies
 * as `redis-cli` does. Besides raw Redis commands it takes the lsm-kv-store seed's words:
 * `DELETE k…` (DEL), `SCAN prefix` (keys and values under a prefix), `STATS` (INFO) and
 * `BATCH n` (the seed's benchmark: n random records written, then the count and the rate).
 *
 * BATCH sends its records as MULTI/EXEC groups of `BATCH_GROUP_RECORDS` SETs, one pipeline per
 * group, so each group is one atomic, durable batch on the server.
 *
 * @module
 */

import { splitInlineArgs } from "../server/mod.ts";
import { formatHostPort } from "./_common.ts";
import { printErr, printJson, printOut, writeOut } from "./_output.ts";
import { describeConnectError, remoteScan } from "./_remote.ts";
import { formatReply, replyToJson } from "./format.ts";
import { ConnectionClosedError, RespClient, type RespReply } from "./resp_client.ts";

/** Most records one `BATCH n` may write. */
export const BATCH_RECORDS_MAX = 10_000_000;
/** Records per MULTI/EXEC group of a BATCH (one engine batch each). */
export const BATCH_GROUP_RECORDS = 1_000;
/** Longest input line read by the prompt (the server's inline limit is 64 KiB; ours is raw). */
const LINE_BYTES_MAX = 16 * 1024 * 1024;

const decoder = new TextDecoder();

/** Options of the prompt. */
export interface PromptOptions {
  /** Server address. */
  hostname: string;
  /** Server RESP port. */
  port: number;
  /** Token sent with AUTH on every (re)connect. */
  authToken: string | undefined;
  /** Print each reply as one JSON line instead of redis-cli's format. */
  json: boolean;
}

/** Reads stdin line by line as bytes (`\n` or `\r\n` endings). */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);
  #done = false;

  /** Reads from `stream` (stdin by default). */
  constructor(stream: ReadableStream<Uint8Array> = Deno.stdin.readable) {
    this.#reader = stream.getReader();
  }

  /** The next line without its ending, or `null` at the end of input. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        let end = nl;
        if (end > 0 && this.#buf[end - 1] === 13) end--;
        const line = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#done) {
        if (this.#buf.length === 0) return null;
        const line = this.#buf;
        this.#buf = new Uint8Array(0);
        return line;
      }
      if (this.#buf.length > LINE_BYTES_MAX) {
        throw new Error(`Input line longer than ${LINE_BYTES_MAX} bytes`);
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#done = true;
        continue;
      }
      const grown = new Uint8Array(this.#buf.length + value.length);
      grown.set(this.#buf);
      grown.set(value, this.#buf.length);
      this.#buf = grown;
    }
  }

  /** Stops reading. */
  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

const PROMPT_HELP = `Type Redis commands (SET k v, GET k, DEL k, SCAN 0 MATCH p* COUNT 10, INFO, …)
or the short forms:
  SET k v | GET k | DELETE k…     write, read, delete
  SCAN prefix                     keys and values starting with prefix
  STATS                           INFO stats and cityhall sections
  BATCH n                         write n random records (keys batch:<hex>) as
                                  MULTI/EXEC groups; prints the count and records/s
  QUIT                            leave`;

function upper(arg: Uint8Array): string {
  return decoder.decode(arg).toUpperCase();
}

/** INFO sections `STATS` and `cityhall client stats` show. */
export const STATS_SECTIONS: readonly string[] = ["stats", "cityhall"];

/** Commands whose bulk reply is text to show as is, as redis-cli does for INFO. */
const RAW_OUTPUT = new Set(["INFO", "STATS", "CLIENT", "LOLWUT"]);

class Session {
  #client: RespClient | undefined;
  errors = 0;

  constructor(readonly options: PromptOptions) {}

  get label(): string {
    return formatHostPort(this.options.hostname, this.options.port);
  }

  async client(): Promise<RespClient> {
    if (this.#client === undefined || this.#client.closed) {
      this.#client = await RespClient.connect(this.options);
    }
    return this.#client;
  }

  dropConnection(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  print(reply: RespReply, raw: boolean): void {
    if (reply.kind === "error") this.errors++;
    if (this.options.json) printJson(replyToJson(reply));
    else if (raw && reply.kind === "bulk" && reply.value !== null) {
      const text = decoder.decode(reply.value).replace(/\r\n/g, "\n");
      writeOut(text.endsWith("\n") ? text : text + "\n");
    } else printOut(formatReply(reply));
  }

  printLocalError(message: string): void {
    this.errors++;
    if (this.options.json) printJson({ error: message });
    else printOut(`(error) ${message}`);
  }
}

function randomHex(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const b of raw) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * The seed's `BATCH n`: writes n random records (`batch:<16 hex>` → 32 hex characters) in
 * MULTI/EXEC groups and prints how many were written and the rate.
 */
async function runBatch(session: Session, n: number): Promise<void> {
  const client = await session.client();
  const t0 = performance.now();
  let written = 0;
  let error: string | undefined;
  for (let done = 0; done < n && error === undefined; done += BATCH_GROUP_RECORDS) {
    const count = Math.min(BATCH_GROUP_RECORDS, n - done);
    const commands: string[][] = [["MULTI"]];
    for (let i = 0; i < count; i++) commands.push(["SET", `batch:${randomHex(8)}`, randomHex(16)]);
    commands.push(["EXEC"]);
    const replies = await client.pipeline(commands);
    const exec = replies.at(-1)!;
    if (exec.kind === "array" && exec.value !== null) written += count;
    else {
      const refused = replies.find((r) => r.kind === "error");
      error = refused?.kind === "error" ? refused.value : `EXEC answered ${formatReply(exec)}`;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const rate = seconds > 0 ? Math.round(written / seconds) : written;
  if (session.options.json) {
    printJson({ written, seconds: Number(seconds.toFixed(3)), recordsPerSecond: rate });
  } else printOut(`Wrote ${written} records in ${seconds.toFixed(3)} s (${rate} records/s)`);
  if (error !== undefined) session.printLocalError(`BATCH stopped after ${written}: ${error}`);
}

/** Runs one prompt line; returns false when the prompt should end. */
async function runLine(session: Session, args: Uint8Array[]) {
  const word = upper(args[0]!);
  if (word === "QUIT" || word === "EXIT") return false;
  if (word === "HELP" && args.length === 1) {
    printOut(PROMPT_HELP);
    return true;
  }
  if (word === "BATCH") {
    const n = args.length === 2 ? Number(decoder.decode(args[1]!)) : NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > BATCH_RECORDS_MAX) {
      session.printLocalError(`ERR usage: BATCH n (n from 1 to ${BATCH_RECORDS_MAX})`);
      return true;
    }
    await runBatch(session, n);
    return true;
  }
  if (word === "SCAN" && args.length === 2 && !/^\d+$/.test(decoder.decode(args[1]!))) {
    // The seed's `SCAN prefix`: keys and values, shown like HGETALL in redis-cli.
    const client = await session.client();
    const items: RespReply[] = [];
    for await (const [key, value] of remoteScan(client, decoder.decode(args[1]!), undefined)) {
      items.push({ kind: "bulk", value: key }, { kind: "bulk", value });
    }
    session.print({ kind: "array", value: items }, false);
    return true;
  }
  let command: (string | Uint8Array)[] = args;
  if (word === "DELETE") command = ["DEL", ...args.slice(1)];
  if (word === "STATS") command = ["INFO", ...(args.length > 1 ? args.slice(1) : STATS_SECTIONS)];
  const client = await session.client();
  try {
    session.print(await client.command(command), RAW_OUTPUT.has(word));
  } catch (err) {
    // SHUTDOWN closes the connection instead of answering, as in Redis.
    if (err instanceof ConnectionClosedError && word === "SHUTDOWN") {
      session.dropConnection();
      return true;
    }
    throw err;
  }
  return true;
}

/**
 * Runs the prompt until QUIT or the end of input; returns the exit code: 0, or 1 when input
 * came from a pipe and a command failed or the server could not be reached.
 */
export async function runPrompt(options: PromptOptions): Promise<number> {
  const session = new Session(options);
  let tty = false;
  try {
    tty = Deno.stdin.isTerminal();
  } catch {
    tty = false;
  }
  // Connect first, so a wrong address or token is reported before any input is read.
  try {
    await session.client();
  } catch (err) {
    const message = err instanceof Error && err.message.startsWith("Authentication failed")
      ? err.message
      : describeConnectError(err, options.hostname, options.port);
    printErr(`cityhall: ${message}`);
    if (!tty) return 1;
  }
  const input = new LineReader();
  try {
    while (true) {
      if (tty) writeOut(`${session.label}> `);
      const line = await input.next();
      if (line === null) break;
      const args = splitInlineArgs(line);
      if (args === undefined) {
        session.printLocalError("Invalid argument(s)");
        continue;
      }
      if (args.length === 0) continue;
      try {
        if (!(await runLine(session, args))) break;
      } catch (err) {
        session.dropConnection();
        session.errors++;
        if (err instanceof ConnectionClosedError) printErr(`Error: ${err.message}`);
        else if (err instanceof Deno.errors.ConnectionRefused) {
          printErr(`Error: ${describeConnectError(err, options.hostname, options.port)}`);
        } else if (err instanceof Error && err.message.startsWith("Authentication failed")) {
          printErr(`Error: ${err.message}`);
        } else throw err;
        // From a pipe there is no one to retry: later commands would fail the same way.
        if (!tty) return 1;
      }
    }
  } finally {
    input.cancel();
    session.dropConnection();
  }
  return !tty && session.errors > 0 ? 1 : 0;
}
