// Page addresses: `#/page?name=value&…`, values percent-encoded bytes (keys are bytes).

import { percentDecode, percentEncode, utf8Bytes, utf8Text } from "./bytes.js";

/** Parameters of the current page, from the part of the hash after `?`. */
export class HashParams {
  constructor(text) {
    this.pairs = [];
    for (const part of text.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const name = eq < 0 ? part : part.slice(0, eq);
      this.pairs.push([name, percentDecode(eq < 0 ? "" : part.slice(eq + 1))]);
    }
  }
  /** The first value of `name` as bytes, or undefined. */
  bytes(name) {
    return this.pairs.find(([n]) => n === name)?.[1];
  }
  /** The first value of `name` as text, or undefined. */
  get(name) {
    const b = this.bytes(name);
    return b === undefined ? undefined : utf8Text(b) ?? "";
  }
  /** Every value of `name` as text. */
  getAll(name) {
    return this.pairs.filter(([n]) => n === name).map(([, b]) => utf8Text(b) ?? "");
  }
}

/** A hash link: `link("chart", { k: ["a", "b"], range: "1h" })` → `#/chart?k=a&k=b&range=1h`. */
export function link(page, params = {}) {
  const parts = [];
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === undefined || v === null || v === "") continue;
      parts.push(`${name}=${percentEncode(v instanceof Uint8Array ? v : utf8Bytes(String(v)))}`);
    }
  }
  return `#/${page}${parts.length > 0 ? "?" + parts.join("&") : ""}`;
}
