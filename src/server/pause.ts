/**
 * CLIENT PAUSE / UNPAUSE: while paused, a client's next command waits (its connection reads
 * nothing more meanwhile) until the pause ends. ARCHITECTURE.md § "Operator commands".
 *
 * Redis 7.0 rules: mode `ALL` holds every command of every client (the caller's included);
 * `WRITE` holds write commands, PUBLISH/SPUBLISH and an EXEC whose transaction queued a write.
 * A new pause keeps the later end and the stricter mode. MONITOR clients are never paused (Redis
 * treats them as replicas). Commands refused before they run (unknown, arity, NOAUTH) are
 * answered at once. However many clients wait, one timer (re-armed in steps of at most
 * 2^31 - 1 ms, the timer limit) ends the pause; UNPAUSE ends it at once.
 *
 * @module
 */

import { TIMER_DELAY_MS_MAX } from "../limits.ts";
import type { Client, CommandSpec } from "./context.ts";

/** What a pause holds. */
export type PauseMode = "write" | "all";

/** The server's pause state. */
export class ClientPause {
  #mode: PauseMode | undefined;
  #endMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended: Promise<void> | undefined;
  #resolve: (() => void) | undefined;
  /**
   * Clients whose command waits for the pause to end. Redis counts them in INFO
   * `blocked_clients` (a paused client is blocked, `BLOCKED_POSTPONE`), and tools wait on that.
   */
  held = 0;

  /** The mode in force, or `undefined` when not paused. */
  get mode(): PauseMode | undefined {
    return this.#mode;
  }

  /** When the pause ends (Unix ms); 0 when not paused. */
  get endMs(): number {
    return this.#endMs;
  }

  /** Pauses until `endMs` in `mode` (a running pause keeps a later end and `all`). */
  pause(mode: PauseMode, endMs: number): void {
    if (this.#mode === undefined) {
      this.#ended = new Promise((resolve) => this.#resolve = resolve);
    }
    if (this.#mode !== "all") this.#mode = mode;
    this.#endMs = Math.max(this.#endMs, endMs);
    this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(this.#endMs - Date.now(), TIMER_DELAY_MS_MAX));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (Date.now() >= this.#endMs) this.unpause();
      else this.#arm();
    }, wait);
    // A pause never keeps the process alive on its own.
    Deno.unrefTimer(this.#timer);
  }

  /** Ends the pause; every waiting client goes on. */
  unpause(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#mode = undefined;
    this.#endMs = 0;
    const wake = this.#resolve;
    this.#resolve = undefined;
    this.#ended = undefined;
    wake?.();
  }

  /**
   * A promise to await before `client` may run `spec` with `args`, or `undefined` to go ahead.
   * `queuedWrite` tells whether the client's MULTI queued a write (for EXEC).
   */
  waitFor(client: Client, spec: CommandSpec, queuedWrite: boolean): Promise<void> | undefined {
    if (this.#mode === undefined || client.monitor) return undefined;
    if (this.#mode === "write" && !holdsInWriteMode(spec, queuedWrite)) return undefined;
    return this.#ended;
  }
}

/** True when a WRITE pause holds `spec`: writes, PUBLISH, SPUBLISH, EXEC of a write. */
function holdsInWriteMode(spec: CommandSpec, queuedWrite: boolean): boolean {
  if (spec.flags.includes("write")) return true;
  if (spec.name === "publish" || spec.name === "spublish") return true;
  return spec.name === "exec" && queuedWrite;
}
