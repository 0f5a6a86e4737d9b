// One key: its value (text, or hex for binary), its expiry, an editor (text, base64 or hex)
// and delete. A time series opens its chart instead. #/key?k=PERCENT-ENCODED-BYTES

import { ApiError, getJson, keyPath, query, request, writeBatch } from "./api.js";
import {
  displayKey,
  equalBytes,
  fromBase64,
  fromHex,
  hasDotSegment,
  toBase64,
  toHex,
  utf8Bytes,
  utf8Text,
} from "./bytes.js";
import { h, replace } from "./dom.js";
import * as fmt from "./format.js";
import { confirmButton } from "./keys_page.js";
import { link } from "./nav.js";

/** Hex shown for a binary value, at most (the editor holds it all). */
const HEX_VIEW_BYTES_MAX = 4096;

/**
 * Reads a key: `{ value, expireAtMs }`, `{ series: true }` for a time series, or undefined when
 * missing. Keys a URL path cannot carry are read through the list route instead (no expiry).
 */
export async function readKey(key) {
  if (!hasDotSegment(key)) {
    try {
      const res = await request("GET", keyPath(key));
      const value = new Uint8Array(await res.arrayBuffer());
      const expire = Number(res.headers.get("x-cityhall-expire-at-ms") ?? 0);
      return { value, expireAtMs: expire };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      if (err instanceof ApiError && err.status === 409 && /TSDB/.test(err.message)) {
        return { series: true };
      }
      throw err;
    }
  }
  const page = await getJson(`/v1/keys${query({ start: key, limit: 1, encoding: "base64" })}`);
  const item = page.items[0];
  if (item === undefined || !equalBytes(fromBase64(item.key), key)) return undefined;
  if (item.value === null) return { series: item.type === "TSDB-TYPE" };
  return { value: fromBase64(item.value), expireAtMs: 0 };
}

function encodeAs(mode, bytes) {
  if (mode === "text") return utf8Text(bytes) ?? "";
  if (mode === "base64") return toBase64(bytes);
  return toHex(bytes, " ");
}

function decodeAs(mode, text) {
  if (mode === "text") return utf8Bytes(text);
  if (mode === "base64") {
    try {
      return fromBase64(text.replace(/\s+/g, ""));
    } catch {
      throw new Error("Invalid base64");
    }
  }
  return fromHex(text);
}

/** Renders the key page. */
export async function render(main, params) {
  const key = params.bytes("k");
  if (key === undefined) {
    replace(main, h("p", { class: "error" }, "No key given"));
    return;
  }
  const shown = displayKey(key);
  const prefixBack = utf8Text(key)?.replace(/[^./:_-]*$/, "") ?? "";
  const back = h("a", { href: link("keys", { prefix: prefixBack }) }, "← Keys");
  const errorLine = h("p", { class: "error", role: "alert" });
  const info = h("div", {});
  const editorCard = h("div", { class: "card", id: "editor" });
  replace(
    main,
    back,
    h("h1", { class: "key mono", id: "key-name" }, shown),
    errorLine,
    info,
    editorCard,
  );

  let entry;
  try {
    entry = await readKey(key);
  } catch (err) {
    errorLine.textContent = String(err?.message ?? err);
    return;
  }
  if (entry === undefined) {
    replace(info, h("p", { class: "muted" }, "This key does not exist (or has expired)."));
  } else if (entry.series) {
    replace(
      info,
      h(
        "p",
        {},
        "This key holds a time series: ",
        h("a", { href: link("chart", { k: shown }) }, "open its chart"),
        ".",
      ),
    );
    editorCard.hidden = true;
    return;
  } else {
    const text = utf8Text(entry.value);
    replace(
      info,
      h(
        "div",
        { class: "card" },
        h(
          "p",
          { class: "muted", id: "key-meta" },
          `${fmt.bytes(entry.value.length)} · ` +
            (text === undefined ? "binary" : "UTF-8 text") + " · " +
            (entry.expireAtMs > 0
              ? `expires ${fmt.time(entry.expireAtMs)} (in ${
                fmt.duration((entry.expireAtMs - Date.now()) / 1000)
              })`
              : "no expiry"),
          utf8Text(key) === undefined ? ` · key bytes: ${toHex(key, " ")}` : "",
        ),
        h(
          "pre",
          { class: "value-view", id: "value-view" },
          text ?? toHex(entry.value.subarray(0, HEX_VIEW_BYTES_MAX), " ") +
              (entry.value.length > HEX_VIEW_BYTES_MAX ? " …" : ""),
        ),
      ),
    );
  }

  const value = entry?.value ?? new Uint8Array(0);
  let mode = utf8Text(value) === undefined ? "hex" : "text";
  const modeSelect = h(
    "select",
    { name: "mode" },
    ["text", "base64", "hex"].map((m) => h("option", { value: m, selected: m === mode }, m)),
  );
  const area = h("textarea", { name: "value", id: "value-editor", value: encodeAs(mode, value) });
  const hasExpiry = (entry?.expireAtMs ?? 0) > 0;
  const ttlMode = h(
    "select",
    { name: "ttl-mode" },
    h("option", { value: "keep", selected: hasExpiry, disabled: !hasExpiry }, "keep its expiry"),
    h("option", { value: "none", selected: !hasExpiry }, "no expiry"),
    h("option", { value: "set" }, "expire in (s)"),
  );
  const ttlInput = h("input", { name: "ttl", type: "number", min: "1", placeholder: "seconds" });
  const status = h("p", { class: "muted", role: "status", id: "save-status" });
  modeSelect.addEventListener("change", () => {
    try {
      const bytes = decodeAs(mode, area.value);
      if (modeSelect.value === "text" && utf8Text(bytes) === undefined) {
        status.textContent = "This value is not UTF-8 text: edit it as base64 or hex";
        modeSelect.value = mode;
        return;
      }
      mode = modeSelect.value;
      area.value = encodeAs(mode, bytes);
      status.textContent = "";
    } catch (err) {
      status.textContent = String(err?.message ?? err);
      modeSelect.value = mode;
    }
  });

  async function save(event) {
    event.preventDefault();
    let bytes;
    try {
      bytes = decodeAs(mode, area.value);
    } catch (err) {
      status.textContent = String(err?.message ?? err);
      return;
    }
    let ttlMs;
    if (ttlMode.value === "keep" && hasExpiry) {
      ttlMs = entry.expireAtMs - Date.now();
      if (ttlMs < 1) {
        status.textContent = "The key has expired meanwhile";
        return;
      }
    } else if (ttlMode.value === "set") {
      const s = Number(ttlInput.value);
      if (!(Number.isInteger(s) && s > 0)) {
        status.textContent = "Expire in: a whole number of seconds, 1 or more";
        return;
      }
      ttlMs = s * 1000;
    }
    try {
      await writeBatch([{ op: "put", key, value: bytes, ttlMs }]);
      status.textContent = `Saved at ${fmt.time(Date.now())}`;
      const again = await readKey(key);
      const view = main.querySelector("#value-view");
      if (again?.value !== undefined && view !== null) {
        view.textContent = utf8Text(again.value) ?? toHex(again.value, " ");
      }
    } catch (err) {
      status.textContent = String(err?.message ?? err);
    }
  }

  const form = h(
    "form",
    { id: "edit-form", onsubmit: save },
    h("h2", {}, entry === undefined ? "Create" : "Edit"),
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, "Edit as", modeSelect),
      h("label", {}, "Expiry", ttlMode),
      h("label", {}, "Seconds", ttlInput),
    ),
    area,
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "submit", id: "save" }, "Save"),
      entry === undefined ? null : confirmButton("Delete", async () => {
        try {
          await writeBatch([{ op: "delete", key }]);
          location.hash = link("keys", { prefix: prefixBack });
        } catch (err) {
          status.textContent = String(err?.message ?? err);
        }
      }),
    ),
    status,
  );
  replace(editorCard, form);
}
