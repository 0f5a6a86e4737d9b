/**
 * `TsError`, the time-series layer's refusals, in a module of its own: the keyspace commands
 * loaded at start (RENAME, COPY) tell such a refusal from other errors without loading the
 * layer, which a server loads on its first time-series command (ARCHITECTURE.md § "Memory").
 *
 * @module
 */

/** A refusal answered to the client: `reply` is the whole error line (`ERR TSDB: ...`). */
export class TsError extends Error {
  /** Creates the error; `reply` starts with its code. */
  constructor(readonly reply: string) {
    super(reply);
    this.name = "TsError";
  }
}

/** `ERR <message>` as a `TsError`. */
export function tsError(message: string): TsError {
  return new TsError(`ERR ${message}`);
}
