/**
 * Bytes from hex text as ARCHITECTURE.md's worked examples print them (`"01 07 01"`,
 * `"43 48 52 57 01 00"`; whitespace ignored), so a codec test can quote the document's bytes.
 *
 * @module
 */

/** The bytes `text` spells in hex; throws on an odd digit count or a non-hex character. */
export function hexBytes(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`Invalid hex text: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
