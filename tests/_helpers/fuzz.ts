/**
 * Shared pieces of the fuzz tests (`tests/<component>/fuzz_test.ts`): how many cases to run,
 * the resident memory of a server process, a well-behaved client whose latency is recorded while
 * the fuzzer attacks, and a deadline for "the server answers or closes within 1 s".
 *
 * Fuzz tests are seeded (CITYHALL_SEED, printed) and bounded: a few seconds in CI.
 * `deno task fuzz` sets CITYHALL_FUZZ_SCALE (default 1) to run many more cases.
 *
 * @module
 */

/** `base` scaled by CITYHALL_FUZZ_SCALE (default 1): the number of cases a fuzz test runs. */
export function fuzzCases(base: number): number {
  const scale = Number(Deno.env.get("CITYHALL_FUZZ_SCALE") ?? "1");
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

/** Resident set size of process `pid` in bytes (Linux `/proc/<pid>/status` VmRSS). */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Latency percentiles of a probe, in milliseconds. */
export interface ProbeReport {
  count: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Percentile `p` (0..1) of an ascending array; 0 for an empty one. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * A well-behaved RESP client: one connection sending `PING` every `intervalMs` and timing each
 * `+PONG`, until `stop()`. With a token it authenticates first. A request that fails or takes
 * over 5 s counts as a failure (and reconnects).
 */
export class PingProbe {
  #latencies: number[] = [];
  #failures = 0;
  #stopped = false;
  #loop: Promise<void>;

  private constructor(port: number, intervalMs: number, token: string | undefined) {
    this.#loop = this.#run(port, intervalMs, token);
  }

  /** Starts probing `127.0.0.1:port`. */
  static start(
    port: number,
    options: { intervalMs?: number; token?: string } = {},
  ): PingProbe {
    return new PingProbe(port, options.intervalMs ?? 10, options.token);
  }

  async #run(port: number, intervalMs: number, token: string | undefined): Promise<void> {
    const enc = new TextEncoder();
    const buf = new Uint8Array(4096);
    while (!this.#stopped) {
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await withDeadline(
          Deno.connect({ hostname: "127.0.0.1", port }),
          5000,
          "probe connect",
        );
        const roundTrip = async (cmd: string, expect: string) => {
          await conn!.write(enc.encode(cmd));
          let got = "";
          while (!got.includes("\r\n")) {
            const n = await withDeadline(conn!.read(buf), 5000, "probe read");
            if (n === null) throw new Error("closed");
            got += new TextDecoder().decode(buf.subarray(0, n));
          }
          if (!got.startsWith(expect)) throw new Error(`unexpected ${got}`);
        };
        if (token !== undefined) await roundTrip(`AUTH ${token}\r\n`, "+OK");
        while (!this.#stopped) {
          const t0 = performance.now();
          await roundTrip("PING\r\n", "+PONG");
          this.#latencies.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      } catch {
        this.#failures++;
        await new Promise((r) => setTimeout(r, intervalMs));
      } finally {
        try {
          conn?.close();
        } catch {
          // Already closed.
        }
      }
    }
  }

  /** Stops and reports. */
  async stop(): Promise<ProbeReport> {
    this.#stopped = true;
    await this.#loop;
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    return {
      count: sorted.length,
      failures: this.#failures,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.at(-1) ?? 0,
    };
  }
}

/**
 * How long this test process itself was stalled (a 10 ms timer that fired late), so that a
 * latency or a reaction is not blamed on the server for a stall of the whole machine: the test,
 * the server and every other process share two loaded cores. A fuzz test asserts latency bounds
 * loose enough for a loaded machine, widened by the stalls it saw.
 */
export class StallClock {
  #stalledMs = 0;
  #maxStallMs = 0;
  #stopped = false;
  #last = performance.now();
  #timer = setInterval(() => {
    const now = performance.now();
    const late = now - this.#last - 10;
    if (late > 50) {
      this.#stalledMs += late;
      this.#maxStallMs = Math.max(this.#maxStallMs, late);
    }
    this.#last = now;
  }, 10);

  /** Milliseconds of stall so far, in all (one still going on included). */
  get stalledMs(): number {
    return this.#stalledMs + this.#current();
  }

  /** The longest single stall so far, in milliseconds. */
  get maxStallMs(): number {
    return Math.max(this.#maxStallMs, this.#current());
  }

  /** A stall going on now: a deadline's timer may fire before this clock's late tick. */
  #current(): number {
    if (this.#stopped) return 0;
    const late = performance.now() - this.#last - 10;
    return late > 50 ? late : 0;
  }

  /** Stops watching (idempotent). */
  stop(): void {
    if (!this.#stopped) {
      const late = this.#current();
      this.#stalledMs += late;
      this.#maxStallMs = Math.max(this.#maxStallMs, late);
    }
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}

/**
 * Rejects with `what` when `promise` has not settled within `ms` plus as long as this process
 * itself was stalled meanwhile: "answers within `ms`" checks the peer, not the loaded machine
 * both share.
 */
export async function withStallDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  const stalls = new StallClock();
  try {
    let windowMs = ms;
    for (;;) {
      const before = stalls.stalledMs;
      try {
        return await withDeadline(promise, windowMs, what);
      } catch (err) {
        windowMs = stalls.stalledMs - before;
        if (
          !(err instanceof Error && err.message.startsWith(`${what}: no answer`)) || windowMs <= 0
        ) {
          throw err;
        }
      }
    }
  } finally {
    stalls.stop();
  }
}
