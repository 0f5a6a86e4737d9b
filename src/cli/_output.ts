/**
 * Writing to stdout and stderr from the CLI: synchronous, complete writes (so output and log
 * lines keep their order) that stay quiet when the reader went away (`cityhall scan | head`).
 *
 * @module
 */

const encoder = new TextEncoder();

function writeAll(file: typeof Deno.stdout | typeof Deno.stderr, data: Uint8Array | string) {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let off = 0;
  try {
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
  } catch (err) {
    // The reader closed the pipe: nothing more can be shown.
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}

/** Writes bytes or text to stdout as is. */
export function writeOut(data: Uint8Array | string): void {
  writeAll(Deno.stdout, data);
}

/** Writes one line of text to stdout. */
export function printOut(line: string): void {
  writeAll(Deno.stdout, line + "\n");
}

/** Writes one line of text to stderr. */
export function printErr(line: string): void {
  writeAll(Deno.stderr, line + "\n");
}

/** Writes a value as one line of JSON to stdout. */
export function printJson(value: unknown): void {
  printOut(JSON.stringify(value));
}
