/**
 * The PromQL engine's errors and the Prometheus API error type each maps to (ARCHITECTURE.md §
 * "Prometheus query API"): `ParseError` → `bad_data` (400), `QueryTypeError` → `bad_data`,
 * `QueryError` → `execution` (422), `QueryTimeoutError` → `timeout` (503).
 *
 * @module
 */

/** An evaluation failure Prometheus reports as `execution` (HTTP 422). */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

/** The query ran past its time budget (`timeout`, HTTP 503). */
export class QueryTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryTimeoutError";
  }
}

/** A range query over an expression of the wrong type (`bad_data`, HTTP 400). */
export class QueryTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryTypeError";
  }
}
