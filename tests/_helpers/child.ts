/**
 * THE child-process helper of the test suite: every test that runs a program — the real
 * `cityhall` (`deno run -A --quiet src/main.ts …`), a test's own child script, `redis-cli`,
 * `prometheus`, `systemd-analyze` — starts it here. One place captures its output, feeds its
 * stdin, waits for a line it prints (a "listening" line, a "ready"), kills it (SIGKILL by
 * default) and always drains its pipes, so no test leaks a process or blocks on a full pipe.
 *
 * - `spawnChild(program, args)` / `spawnDeno(args)` / `spawnCityhall(args)`: a running `Child`.
 * - `runChild` / `runDeno` / `runCityhall`: run to completion, the `ChildResult`.
 * - `Child.waitForLine`, `Child.waitForListening`: wait for output (bounded; rejects with the
 *   output when the child exits first or the time passes).
 * - `await using child = spawnCityhall(…)` kills it at the end of the scope.
 *
 * @module
 */

import { parseLogfmt } from "../../src/util/log.ts";

/** Path of the program's entry point (`src/main.ts`). */
export const MAIN: string = new URL("../../src/main.ts", import.meta.url).pathname;

/** Where a child's stdout or stderr goes: kept in memory (default), the test's own, nowhere. */
export type ChildOutput = "capture" | "inherit" | "null";

/** Options of `spawnChild` and the functions built on it. */
export interface ChildOptions {
  /** Environment variables added to the test's own (or the only ones, with `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment: only `env`. */
  clearEnv?: boolean;
  /** Names removed from the inherited environment. */
  removeEnv?: string[];
  /** Working directory. */
  cwd?: string;
  /** Bytes or text written to stdin, which is then closed; none = no stdin at all. */
  stdin?: string | Uint8Array;
  /** Default "capture". */
  stdout?: ChildOutput;
  /** Default "capture". */
  stderr?: ChildOutput;
  /**
   * Called with each complete (newline-terminated) stdout line as it arrives (a crash test's
   * acknowledgements).
   */
  onStdoutLine?: (line: string) => void;
  /** Called with each complete stderr line as it arrives. */
  onStderrLine?: (line: string) => void;
  /** A program and its arguments to run the program through (`setpriv …`, `sh -c …`). */
  wrapper?: string[];
  /** Signal the child (`killSignal`, default SIGKILL) if it still runs after this long. */
  killAfterMs?: number;
  /** The signal `killAfterMs` sends (SIGINT: redis-cli prints its summary then). */
  killSignal?: Deno.Signal;
  /**
   * How long output is still read after the child exited, for grandchildren that hold its
   * pipes (`sh -c`), default 2 s; `Infinity` waits until every holder closed them (a test that
   * watches a daemon its child started).
   */
  pipeGraceMs?: number;
}

/** How a child ended and everything it printed. */
export interface ChildResult {
  /** Exit code (128 + n after signal n). */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  /** Exit code 0. */
  success: boolean;
  /** Captured stdout, decoded as UTF-8 ("" unless captured). */
  stdout: string;
  /** Captured stderr, decoded as UTF-8 ("" unless captured). */
  stderr: string;
  /** Captured stdout bytes. */
  stdoutBytes: Uint8Array;
}

/** Options of `Child.waitForLine`. */
export interface WaitOptions {
  /** Which output to watch: "stderr" (default; where `cityhall` logs) or "stdout". */
  stream?: "stdout" | "stderr";
  /** Give up after this long (default 60 s: a loaded CI machine starts deno slowly). */
  timeoutMs?: number;
}

const WAIT_TIMEOUT_MS_DEFAULT = 60_000;
/** How long output is read after the child exited (its grandchildren may hold the pipes). */
const PIPE_GRACE_MS = 2_000;
const encoder = new TextEncoder();

/** Collects one pipe: bytes, text, complete lines; wakes waiters on every chunk and at the end. */
class Capture {
  readonly #chunks: Uint8Array[] = [];
  readonly #decoder = new TextDecoder();
  #text = "";
  #partial = "";
  readonly lines: string[] = [];
  done = false;
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #wake: () => void;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** False for an output that is inherited or discarded. */
  captured = true;

  constructor(onLine: ((line: string) => void) | undefined, wake: () => void) {
    this.#onLine = onLine;
    this.#wake = wake;
  }

  get text(): string {
    return this.#text;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  async drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    this.#reader = reader;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#chunks.push(value);
        this.#add(this.#decoder.decode(value, { stream: true }));
      }
    } catch {
      // The pipe broke with the child, or was cancelled: what arrived is kept.
    }
    this.#add(this.#decoder.decode());
    // An unterminated last line (the child was killed while writing it) is not a line: a
    // crash test must not take "ack k" of a cut "ack key 12" as an acknowledgement. It is
    // in `text`.
    this.done = true;
    this.#wake();
  }

  /** Stops reading (a grandchild that outlives the child may hold the pipe open). */
  cancel(): void {
    this.#reader?.cancel().catch(() => {});
  }

  #add(text: string): void {
    if (text === "") return;
    this.#text += text;
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop()!;
    for (const line of parts) this.#line(line);
    this.#wake();
  }

  #line(line: string): void {
    this.lines.push(line);
    this.#onLine?.(line);
  }
}

/** Writes `input` to the child's stdin and closes it. */
async function feed(process: Deno.ChildProcess, input: string | Uint8Array): Promise<void> {
  const writer = process.stdin.getWriter();
  try {
    await writer.write(typeof input === "string" ? encoder.encode(input) : input);
    await writer.close();
  } catch {
    // The child exited without reading all of it.
  }
}

/** A running child process (see the module doc). */
export class Child implements AsyncDisposable {
  /** The process. */
  readonly process: Deno.ChildProcess;
  /** What was started, for messages. */
  readonly description: string;
  /** Resolves once the child exited and its output was read to the end. */
  readonly exited: Promise<ChildResult>;
  readonly #stdout: Capture;
  readonly #stderr: Capture;
  #result: ChildResult | undefined;
  #waiters = new Set<() => void>();

  /** Starts `program args…` (use `spawnChild`). */
  constructor(program: string, args: string[], options: ChildOptions = {}) {
    const wrapper = options.wrapper ?? [];
    const [cmd, cmdArgs] = wrapper.length === 0
      ? [program, args]
      : [wrapper[0]!, [...wrapper.slice(1), program, ...args]];
    this.description = [cmd, ...cmdArgs].join(" ");
    const env = { ...(options.clearEnv ? {} : Deno.env.toObject()), ...options.env };
    for (const name of options.removeEnv ?? []) delete env[name];
    const pipe = (o: ChildOutput | undefined) => o === "inherit" || o === "null" ? o : "piped";
    const process = new Deno.Command(cmd, {
      args: cmdArgs,
      env,
      clearEnv: true,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: pipe(options.stdout),
      stderr: pipe(options.stderr),
    }).spawn();
    this.process = process;
    const wake = () => {
      for (const w of [...this.#waiters]) w();
    };
    const stdout = new Capture(options.onStdoutLine, wake);
    const stderr = new Capture(options.onStderrLine, wake);
    this.#stdout = stdout;
    this.#stderr = stderr;
    const reading: Promise<void>[] = [];
    if (pipe(options.stdout) === "piped") reading.push(stdout.drain(process.stdout));
    else stdout.captured = false;
    if (pipe(options.stderr) === "piped") reading.push(stderr.drain(process.stderr));
    else stderr.captured = false;
    if (options.stdin !== undefined) reading.push(feed(process, options.stdin));
    const killTimer = options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => this.signal(options.killSignal ?? "SIGKILL"), options.killAfterMs);
    this.exited = (async () => {
      const status = await process.status;
      // Output written before the exit is in the pipe; a grandchild (`sh -c`) may keep the
      // pipe open long after: stop reading after a grace period.
      const graceMs = options.pipeGraceMs ?? PIPE_GRACE_MS;
      if (graceMs !== Infinity) {
        let grace: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(reading),
          new Promise((resolve) => grace = setTimeout(resolve, graceMs)),
        ]);
        clearTimeout(grace);
        stdout.cancel();
        stderr.cancel();
      }
      await Promise.all(reading);
      clearTimeout(killTimer);
      this.#result = {
        code: status.code,
        signal: status.signal,
        success: status.success,
        stdout: stdout.text,
        stderr: stderr.text,
        stdoutBytes: stdout.bytes(),
      };
      wake();
      return this.#result;
    })();
  }

  /** Process id. */
  get pid(): number {
    return this.process.pid;
  }

  /** Stdout captured so far. */
  get stdout(): string {
    return this.#stdout.text;
  }

  /** Stderr captured so far (`cityhall`'s log). */
  get stderr(): string {
    return this.#stderr.text;
  }

  /** Complete stderr lines so far. */
  get stderrLines(): readonly string[] {
    return this.#stderr.lines;
  }

  /** Complete stdout lines so far. */
  get stdoutLines(): readonly string[] {
    return this.#stdout.lines;
  }

  /** The result once the child exited (and its output was read), else `undefined`. */
  get result(): ChildResult | undefined {
    return this.#result;
  }

  /** Sends `signal` unless the child is gone already; true when it was sent. */
  signal(signal: Deno.Signal): boolean {
    if (this.#result !== undefined) return false;
    try {
      this.process.kill(signal);
      return true;
    } catch {
      return false; // Already gone.
    }
  }

  /**
   * Sends `signal` (default SIGKILL) and waits for the exit. With `graceMs`, a child still
   * running after that long (a wedged process never runs its signal handler) gets SIGKILL.
   */
  async kill(signal: Deno.Signal = "SIGKILL", graceMs?: number): Promise<ChildResult> {
    this.signal(signal);
    const timer = graceMs === undefined ? undefined : setTimeout(
      () => this.signal("SIGKILL"),
      graceMs,
    );
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the child (SIGKILL) unless it exited, and waits: `await using child = …`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill("SIGKILL");
  }

  /**
   * The first complete line of `options.stream` (stderr by default) that `match` accepts (a
   * RegExp, a substring, or a function), with the RegExp's match. Lines that arrived before
   * the call count. Rejects, with the output, when the child exits first or the time passes.
   */
  waitForLine(
    match: RegExp | string | ((line: string) => boolean),
    options: WaitOptions = {},
  ): Promise<{ line: string; match: RegExpMatchArray | null }> {
    const capture = options.stream === "stdout" ? this.#stdout : this.#stderr;
    const test = (line: string): RegExpMatchArray | null | false => {
      if (typeof match === "string") return line.includes(match) ? null : false;
      if (typeof match === "function") return match(line) ? null : false;
      return line.match(match) ?? false;
    };
    if (!capture.captured) {
      return Promise.reject(
        new Error(`waitForLine: ${options.stream ?? "stderr"} is not captured`),
      );
    }
    let seen = 0;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(() => reject(this.#failure("printed no line matching", match))),
        options.timeoutMs ?? WAIT_TIMEOUT_MS_DEFAULT,
      );
      const finish = (fn: () => void) => {
        this.#waiters.delete(check);
        clearTimeout(timer);
        fn();
      };
      const check = () => {
        for (; seen < capture.lines.length; seen++) {
          const line = capture.lines[seen]!;
          const m = test(line);
          if (m !== false) return finish(() => resolve({ line, match: m }));
        }
        if (capture.done) {
          finish(() =>
            void this.exited.then((r) =>
              reject(this.#failure(`exited (code ${r.code}) before printing`, match))
            )
          );
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * The fields of `cityhall`'s `msg="listening"` log line (resp, http, replication, sync, …).
   * `port(field)` reads the port of a `host:port` field.
   */
  async waitForListening(
    timeoutMs?: number,
  ): Promise<Record<string, string> & { port(field: string): number | undefined }> {
    const { line } = await this.waitForLine(
      (l) => parseLogfmt(l)?.msg === "listening",
      timeoutMs === undefined ? {} : { timeoutMs },
    );
    const fields = parseLogfmt(line)!;
    return Object.assign({ ...fields }, {
      port(field: string): number | undefined {
        const v = fields[field];
        if (v === undefined || v === "off") return undefined;
        return Number(v.slice(v.lastIndexOf(":") + 1));
      },
    });
  }

  #failure(what: string, match?: unknown): Error {
    const wanted = match === undefined ? "" : ` ${String(match)}`;
    return new Error(
      `${this.description} ${what}${wanted}\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`,
    );
  }
}

/** Starts `program args…`. */
export function spawnChild(program: string, args: string[], options: ChildOptions = {}): Child {
  return new Child(program, args, options);
}

/** Runs `program args…` to completion. */
export function runChild(
  program: string,
  args: string[],
  options: ChildOptions = {},
): Promise<ChildResult> {
  return new Child(program, args, options).exited;
}

/** Starts the deno running the tests with `args` (`["run", "-A", script, …]`, `["eval", …]`). */
export function spawnDeno(args: string[], options: ChildOptions = {}): Child {
  return new Child(Deno.execPath(), args, options);
}

/** Runs deno with `args` to completion. */
export function runDeno(args: string[], options: ChildOptions = {}): Promise<ChildResult> {
  return spawnDeno(args, options).exited;
}

/** Starts `deno run -A --quiet script args…` (a test's own child program). */
export function spawnScript(script: string, args: string[], options: ChildOptions = {}): Child {
  return spawnDeno(["run", "-A", "--quiet", script, ...args], options);
}

/**
 * Starts the real program, `cityhall args…` (`deno run -A --quiet src/main.ts args…`). A
 * `CITYHALL_AUTH_TOKEN` in the developer's environment is not passed on unless `env` sets one.
 */
export function spawnCityhall(args: string[], options: ChildOptions = {}): Child {
  const removeEnv = [...(options.removeEnv ?? [])];
  if (options.env?.CITYHALL_AUTH_TOKEN === undefined) removeEnv.push("CITYHALL_AUTH_TOKEN");
  return spawnScript(MAIN, args, { ...options, removeEnv });
}

/** Runs `cityhall args…` to completion. */
export function runCityhall(args: string[], options: ChildOptions = {}): Promise<ChildResult> {
  return spawnCityhall(args, options).exited;
}
