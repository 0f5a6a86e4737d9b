/**
 * A command whose arguments the RESP parser kept packed: all argument bytes after the name in
 * one array and their bounds in an `Int32Array`, instead of one `Uint8Array` per argument.
 * TS.MADD carries three arguments per sample (1,500 for a batch of 500); a view object each
 * was most of what the server allocated under ingest, and what a batch kept alive while it
 * waited for its group commit made the young generation promote it. The dispatcher hands a
 * packed command to its spec's `packedHandler` when nothing needs the arguments one by one,
 * and else turns it into an ordinary argument list (`toArgs`). ARCHITECTURE.md
 * § "Framing (requests)".
 *
 * @module
 */

const NO_BYTES = new Uint8Array(0);
/** Bytes a builder may take for its arguments before they have arrived (see the constructor). */
const PACK_GUESS_BYTES_MAX = 64 * 1024;

/** Argument bytes and bounds of one command, the name apart. */
export class PackedArgs {
  /** The command name as sent. */
  readonly name: Uint8Array;
  /** Argument bytes, back to back (owned: never reused by the parser). */
  readonly bytes: Uint8Array;
  /** Start and end in `bytes` of argument `i` (>= 1) at `2 * (i - 1)` and `2 * (i - 1) + 1`. */
  readonly bounds: Int32Array;
  /** Arguments, the name included (as `args.length`). */
  readonly length: number;

  /** Wraps parsed arguments. */
  constructor(name: Uint8Array, bytes: Uint8Array, bounds: Int32Array, length: number) {
    this.name = name;
    this.bytes = bytes;
    this.bounds = bounds;
    this.length = length;
  }

  /** Start of argument `i` (>= 1) in `bytes`. */
  start(i: number): number {
    return this.bounds[2 * i - 2]!;
  }

  /** End of argument `i` (>= 1) in `bytes`. */
  end(i: number): number {
    return this.bounds[2 * i - 1]!;
  }

  /** Argument `i` as a view of `bytes` (the name for 0). */
  arg(i: number): Uint8Array {
    if (i === 0) return this.name;
    return this.bytes.subarray(this.bounds[2 * i - 2]!, this.bounds[2 * i - 1]!);
  }

  /** The ordinary argument list (views of `bytes`). */
  toArgs(): Uint8Array[] {
    const args: Uint8Array[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) args[i] = this.arg(i);
    return args;
  }

  /**
   * An argument list of the right length whose first `first` arguments are copies and the rest
   * empty: what the slow log keeps (32 arguments and a count of the others) without a view per
   * argument nor a reference to `bytes`.
   */
  headArgs(first: number): Uint8Array[] {
    const args: Uint8Array[] = new Array(this.length).fill(NO_BYTES);
    const n = Math.min(first, this.length);
    for (let i = 0; i < n; i++) args[i] = this.arg(i).slice();
    return args;
  }
}

/** Collects a packed command's arguments while the parser receives them. */
export class PackedBuilder {
  #bytes: Uint8Array;
  #used = 0;
  readonly #bounds: Int32Array;
  #count = 0;
  readonly #name: Uint8Array;
  readonly #length: number;

  /**
   * A builder for `args` arguments after `name`; `buffered` is how many bytes of the command
   * (or more) the parser holds already: they bound its argument bytes when it is complete.
   */
  constructor(name: Uint8Array, args: number, buffered: number) {
    this.#name = name;
    this.#length = args + 1;
    this.#bounds = new Int32Array(2 * args);
    // Frames are kept with their headers: a TS.MADD sample of a 10-byte key, a 13-digit
    // timestamp and a 5-byte value takes ~48 bytes (16 per argument), and a guess of exactly
    // that made nearly every command of the ingest bench grow once (1,769 of 2,000: a second
    // buffer twice the size and a copy). 20 per argument fits such batches with room to spare;
    // before the command's bytes have arrived the guess is capped (a header alone may declare
    // a million arguments), so the buffer holds at most what arrived or `PACK_GUESS_BYTES_MAX`.
    const guess = Math.min(args * 20, Math.max(buffered, PACK_GUESS_BYTES_MAX));
    this.#bytes = new Uint8Array(Math.max(64, guess));
  }

  #reserve(n: number): void {
    const used = this.#used;
    if (used + n > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, used + n));
      grown.set(this.#bytes.subarray(0, used));
      this.#bytes = grown;
    }
  }

  /** Bytes appended so far (where the next `copy` lands). */
  get used(): number {
    return this.#used;
  }

  /**
   * Appends `src[from, to)` as it is (frames and all) in one copy; the arguments inside it are
   * then declared with `bound`, in order, at offsets from `used` as it was before.
   */
  copy(src: Uint8Array, from: number, to: number): void {
    this.#reserve(to - from);
    this.#bytes.set(src.subarray(from, to), this.#used);
    this.#used += to - from;
  }

  /** Declares the next argument as `bytes[start, end)` (see `copy`). */
  bound(start: number, end: number): void {
    const k = 2 * this.#count++;
    this.#bounds[k] = start;
    this.#bounds[k + 1] = end;
  }

  /** Appends `src[start, start + n)` as the next argument. */
  add(src: Uint8Array, start: number, n: number): void {
    this.#reserve(n);
    let used = this.#used;
    const out = this.#bytes;
    if (n <= 32) { for (let i = 0; i < n; i++) out[used + i] = src[start + i]!; }
    else out.set(src.subarray(start, start + n), used);
    const k = 2 * this.#count++;
    this.#bounds[k] = used;
    used += n;
    this.#bounds[k + 1] = used;
    this.#used = used;
  }

  /** The command, once every argument was added. */
  finish(): PackedArgs {
    return new PackedArgs(this.#name, this.#bytes, this.#bounds, this.#length);
  }
}
