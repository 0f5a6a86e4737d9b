// Keys and values are bytes. The console asks the API for base64 (exact for any byte), shows
// text when the bytes are UTF-8, escapes what is not, and puts keys in request paths with every
// byte percent-encoded.

const encoder = new TextEncoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of a string. */
export function utf8Bytes(text) {
  return encoder.encode(text);
}

/** The string if `bytes` are valid UTF-8, else undefined. */
export function utf8Text(bytes) {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decodes standard base64. */
export function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encodes standard base64 (padded). */
export function toBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Bytes as lowercase hex, optionally grouped: `0a ff 10`. */
export function toHex(bytes, sep = "") {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(sep);
}

/** Parses hex digits (spaces allowed); throws on anything else. */
export function fromHex(text) {
  const clean = text.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new Error("Invalid hex: use pairs of 0-9 a-f");
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * A key for display: its text when it is UTF-8 without control characters, else the text with
 * every other byte written `\xNN` (so two different keys never look alike).
 */
export function displayKey(bytes) {
  const text = utf8Text(bytes);
  // deno-lint-ignore no-control-regex
  if (text !== undefined && !/[\u0000-\u001f\u007f\\]/.test(text)) return text;
  let out = "";
  for (const b of bytes) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : "\\x" + toHex([b]);
  }
  return out;
}

const UNRESERVED = /[A-Za-z0-9\-_.~]/;

/** Percent-encodes every byte but the unreserved ones (a path segment or query value). */
export function percentEncode(bytes) {
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED.test(c) ? c : "%" + toHex([b]).toUpperCase();
  }
  return out;
}

/** Decodes `%XX` escapes (and other characters as UTF-8) into bytes. */
export function percentDecode(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "%" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const cp = text.codePointAt(i);
      const ch = String.fromCodePoint(cp);
      out.push(...encoder.encode(ch));
      i += ch.length - 1;
    }
  }
  return new Uint8Array(out);
}

/**
 * True when a key cannot travel in a URL path: browsers resolve `.` and `..` segments (even
 * percent-encoded) before sending, so such keys go through the batch and list routes instead.
 */
export function hasDotSegment(bytes) {
  const text = String.fromCharCode(...bytes.subarray(0, 4096));
  return text.split("/").some((s) => s === "." || s === "..") || bytes.length > 4096;
}

/** True when both byte arrays are equal. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
