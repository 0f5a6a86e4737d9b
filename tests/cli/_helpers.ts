/**
 * Test helpers for the real `cityhall` program: `runCli` runs it to completion, `startServe`
 * starts `cityhall serve` on ephemeral ports and reads the actual ports from its
 * `listening resp=… http=…` log line. Both are thin layers over the suite's one child-process
 * helper, `tests/_helpers/child.ts`.
 *
 * @module
 */

import { assert } from "@std/assert";
import { type Child, MAIN, spawnCityhall } from "../_helpers/child.ts";

export { MAIN };

/** What a finished CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** Options of `runCli`. */
export interface RunOptions {
  /** Bytes or text fed to stdin (closed after); none = empty stdin. */
  stdin?: string | Uint8Array;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Variables to remove from the child's environment. */
  clearEnv?: string[];
  /** A program and its arguments that run deno (e.g. `setpriv …`); none = deno itself. */
  wrapper?: string[];
  /** Kill the child (SIGKILL) if it runs longer than this, e.g. a daemon that should not start. */
  killAfterMs?: number;
}

function childOptions(options: RunOptions) {
  return {
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.clearEnv !== undefined ? { removeEnv: options.clearEnv } : {}),
    ...(options.wrapper !== undefined ? { wrapper: options.wrapper } : {}),
    ...(options.killAfterMs !== undefined ? { killAfterMs: options.killAfterMs } : {}),
  };
}

/** Runs `cityhall args…` to completion. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const r = await spawnCityhall(args, {
    ...childOptions(options),
    // An empty stdin, closed, unless given: the CLI reads piped input.
    stdin: options.stdin ?? "",
  }).exited;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, stdoutBytes: r.stdoutBytes };
}

/** Options of `startServe`. */
export interface StartOptions extends RunOptions {
  /** The daemon command: serve (default), leader or replica. */
  command?: "serve" | "leader" | "replica";
}

/** A running `cityhall serve`. */
export interface ServeProcess {
  child: Deno.ChildProcess;
  /** The helper's handle on it. */
  proc: Child;
  /** Actual RESP port. */
  port: number;
  /** Actual HTTP port, or undefined with --no-http. */
  httpPort: number | undefined;
  /** Everything it logged so far. */
  log(): string;
  /** Resolves with the exit code once it exited and its output was read. */
  exited: Promise<number>;
  /** Sends `signal` (default SIGTERM) and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/**
 * Starts `cityhall serve --data-dir dir --port 0 --http-port 0 …extra` (or `leader`/`replica`
 * with `options.command`) and waits for its
 * listening line. Rejects with the log when it exits first.
 */
export async function startServe(
  dir: string,
  extra: string[] = [],
  options: StartOptions = {},
): Promise<ServeProcess> {
  const ports = extra.includes("--port") ? [] : ["--port", "0"];
  const httpPorts = extra.includes("--http-port") || extra.includes("--no-http")
    ? []
    : ["--http-port", "0"];
  const proc = spawnCityhall(
    [options.command ?? "serve", "--data-dir", dir, ...ports, ...httpPorts, ...extra],
    { ...childOptions(options), ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) },
  );
  let listening;
  try {
    listening = await proc.waitForListening();
  } catch (err) {
    await proc.kill();
    throw new Error(`serve exited before listening:\n${proc.stderr}`, { cause: err });
  }
  return {
    child: proc.process,
    proc,
    port: listening.port("resp")!,
    httpPort: listening.port("http"),
    log: () => proc.stderr,
    exited: proc.exited.then((r) => r.code),
    async stop(signal: Deno.Signal = "SIGTERM") {
      return (await proc.kill(signal)).code;
    },
  };
}

export { freePort } from "../_helpers/net.ts";

/** A fresh temporary directory removed by the returned function. */
export async function tempDir(
  prefix = "cityhall-cli-test-",
): Promise<[string, () => Promise<void>]> {
  const dir = await Deno.makeTempDir({ prefix });
  return [dir, () => Deno.remove(dir, { recursive: true }).catch(() => {})];
}

/** Asserts that `text` contains `part`, showing both when it does not. */
export function assertHas(text: string, part: string): void {
  assert(text.includes(part), `expected to find ${JSON.stringify(part)} in:\n${text}`);
}
