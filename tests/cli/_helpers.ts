/**
 * Test helpers: run the real `cityhall` program (`deno run -A src/main.ts …`) as a child
 * process, and start `cityhall serve` on ephemeral ports, reading the actual ports from its
 * `listening resp=… http=…` log line.
 *
 * @module
 */

import { assert } from "@std/assert";

/** Path of the program's entry point. */
export const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

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

function childEnv(options: RunOptions): Record<string, string> {
  const env = { ...Deno.env.toObject(), ...options.env };
  // A token in the developer's environment must not leak into the tests.
  if (options.env?.CITYHALL_AUTH_TOKEN === undefined) delete env.CITYHALL_AUTH_TOKEN;
  for (const name of options.clearEnv ?? []) delete env[name];
  return env;
}

/** The program and arguments that run deno with `args`, through `options.wrapper` if any. */
function denoCommand(options: RunOptions, args: string[]): [string, string[]] {
  const wrapper = options.wrapper ?? [];
  if (wrapper.length === 0) return [Deno.execPath(), args];
  return [wrapper[0]!, [...wrapper.slice(1), Deno.execPath(), ...args]];
}

/** Runs `cityhall args…` to completion. */
export async function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const [program, programArgs] = denoCommand(options, ["run", "-A", "--quiet", MAIN, ...args]);
  const child = new Deno.Command(program, {
    args: programArgs,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: childEnv(options),
    clearEnv: true,
  }).spawn();
  const writer = child.stdin.getWriter();
  if (options.stdin !== undefined) {
    await writer.write(
      typeof options.stdin === "string" ? encoder.encode(options.stdin) : options.stdin,
    );
  }
  await writer.close();
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.killAfterMs);
  const out = await child.output();
  clearTimeout(timer);
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/** Options of `startServe`. */
export interface StartOptions extends RunOptions {
  /** The daemon command: serve (default), leader or replica. */
  command?: "serve" | "leader" | "replica";
}

/** A running `cityhall serve`. */
export interface ServeProcess {
  child: Deno.ChildProcess;
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
  const [program, args] = denoCommand(options, [
    "run",
    "-A",
    "--quiet",
    MAIN,
    options.command ?? "serve",
    "--data-dir",
    dir,
    ...ports,
    ...httpPorts,
    ...extra,
  ]);
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: childEnv(options),
    clearEnv: true,
  }).spawn();
  let log = "";
  let onLine: (() => void) | undefined;
  const readStderr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      onLine?.();
    }
    onLine?.();
  })();
  const readStdout = (async () => {
    for await (const _ of child.stdout) {
      // Serve prints nothing on stdout; drain it anyway.
    }
  })();
  const exited = (async () => {
    const status = await child.status;
    await Promise.all([readStderr, readStdout]);
    return status.code;
  })();
  let exitedEarly = false;
  exited.then(() => exitedEarly = true);
  const match = await new Promise<RegExpMatchArray | null>((resolve) => {
    const check = () => {
      const m = log.match(/msg="listening" resp=(\S+):(\d+) http=(\S+)/);
      if (m !== null) resolve(m);
      else if (exitedEarly) resolve(null);
    };
    onLine = check;
    exited.then(check);
    check();
  });
  if (match === null) {
    await exited;
    throw new Error(`serve exited before listening:\n${log}`);
  }
  onLine = undefined;
  const httpField = match[3]!;
  const httpPort = httpField === "off" ? undefined : Number(httpField.split(":").at(-1));
  return {
    child,
    port: Number(match[2]),
    httpPort,
    log: () => log,
    exited,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
      return await exited;
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
