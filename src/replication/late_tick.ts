/**
 * The watchdogs of both ends of a link run on an interval timer. A tick that comes much later
 * than its interval means this process itself was stalled (CPU starvation, a long synchronous
 * task, a paused VM): bytes the peer sent meanwhile sit unread in the socket, so a deadline
 * judged on that tick would blame the peer for this process's own stall. Such a tick skips
 * the peer's deadlines; the next one judges them, after the pending reads ran. Never two
 * skipped ticks in a row: a process that always runs late still drops a silent link.
 *
 * @module
 */

/** Tells, at each watchdog tick, whether that tick ran late. */
export class LateTicks {
  readonly intervalMs: number;
  #lastMs: number;
  #skipped = false;

  /** `intervalMs`: the watchdog's interval; a tick over twice that after the last one is late. */
  constructor(intervalMs: number, nowMs: number = Date.now()) {
    this.intervalMs = intervalMs;
    this.#lastMs = nowMs;
  }

  /** Call once per tick: true when this tick must not judge the peer's deadlines. */
  late(nowMs: number): boolean {
    const late = !this.#skipped && nowMs - this.#lastMs > 2 * this.intervalMs;
    this.#skipped = late;
    this.#lastMs = nowMs;
    return late;
  }
}
