/**
 * Programmer-error assertions. A failed assertion means CityHall itself is wrong, so it throws
 * an `AssertionError` that nothing catches on purpose. One condition per call.
 *
 * @module
 */

/** Thrown when an internal invariant does not hold. */
export class AssertionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/** Throws an `AssertionError` with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
