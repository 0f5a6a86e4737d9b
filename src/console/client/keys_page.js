// Key browser: a prefix scan page by page (keys and values exact, in base64 on the wire), a
// form for a new key, and delete with a confirmation. #/keys?prefix=TEXT

import { getJson, query, writeBatch } from "./api.js";
import { displayKey, fromBase64, utf8Bytes, utf8Text } from "./bytes.js";
import { h, replace, table } from "./dom.js";
import * as fmt from "./format.js";
import { link } from "./nav.js";

/** Keys per page. */
const PAGE_SIZE = 100;
/** Characters of a value shown in the list. */
const PREVIEW_CHARS = 80;

/** A short view of a value: its text (cut), or `binary, N bytes`. */
export function preview(bytes) {
  const text = utf8Text(bytes);
  if (text === undefined) return `(binary, ${fmt.bytes(bytes.length)})`;
  return text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + "…" : text;
}

/** A button that asks once more before it acts. */
export function confirmButton(label, action) {
  let armed = false;
  let timer;
  const button = h("button", { type: "button", class: "secondary" }, label);
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Confirm ${label.toLowerCase()}`;
      button.className = "danger";
      timer = setTimeout(() => {
        armed = false;
        button.textContent = label;
        button.className = "secondary";
      }, 5000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    await action();
  });
  return button;
}

/** Renders the key browser. */
export async function render(main, params) {
  const prefixInput = h("input", {
    name: "prefix",
    class: "wide",
    value: params.get("prefix") ?? "",
    placeholder: "key prefix, e.g. sensor.",
  });
  const errorLine = h("p", { class: "error", role: "alert" });
  const listEl = h("div", { id: "key-list" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Next page");
  const newKey = h("input", { name: "key", class: "wide", placeholder: "key", required: true });
  const newValue = h("textarea", { name: "value", placeholder: "value" });
  const newTtl = h("input", { name: "ttl", type: "number", min: "1", placeholder: "none" });
  const newStatus = h("p", { class: "muted", role: "status" });
  let cursor = null;
  let pageStart = null;

  replace(
    main,
    h("h1", {}, "Keys"),
    h(
      "div",
      { class: "card" },
      h(
        "form",
        { class: "toolbar", id: "scan-form" },
        h("label", {}, "Prefix", prefixInput),
        h("button", { type: "submit" }, "Scan"),
      ),
      errorLine,
      listEl,
      more,
    ),
    h(
      "details",
      { class: "card" },
      h("summary", {}, "New key"),
      h(
        "form",
        { id: "new-key-form" },
        h(
          "div",
          { class: "toolbar" },
          h("label", {}, "Key", newKey),
          h("label", {}, "TTL (s)", newTtl),
        ),
        newValue,
        h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Save")),
        newStatus,
      ),
    ),
  );

  async function load(from) {
    errorLine.textContent = "";
    const prefix = prefixInput.value;
    history.replaceState(null, "", link("keys", { prefix }));
    try {
      const page = await getJson(
        `/v1/keys${
          query({
            prefix: utf8Bytes(prefix),
            limit: PAGE_SIZE,
            encoding: "base64",
            cursor: from ?? undefined,
          })
        }`,
      );
      pageStart = from;
      cursor = page.cursor;
      more.hidden = cursor === null;
      draw(page.items);
    } catch (err) {
      replace(listEl);
      more.hidden = true;
      errorLine.textContent = String(err?.message ?? err);
    }
  }

  function draw(items) {
    if (items.length === 0) {
      replace(listEl, h("p", { class: "muted" }, "No keys."));
      return;
    }
    const rows = items.map((item) => {
      const key = fromBase64(item.key);
      const shown = displayKey(key);
      const isSeries = item.type === "TSDB-TYPE";
      const value = item.value === null || item.value === undefined
        ? undefined
        : fromBase64(item.value);
      return h(
        "tr",
        {},
        h(
          "td",
          { class: "key mono" },
          h("a", { href: isSeries ? link("chart", { k: shown }) : link("key", { k: key }) }, shown),
        ),
        h("td", {}, isSeries ? "series" : item.type ?? "string"),
        h("td", { class: "num" }, value === undefined ? "" : fmt.bytes(value.length)),
        h("td", { class: "mono" }, value === undefined ? "" : preview(value)),
        h(
          "td",
          {},
          isSeries ? null : confirmButton("Delete", async () => {
            try {
              await writeBatch([{ op: "delete", key }]);
              await load(pageStart);
            } catch (err) {
              errorLine.textContent = String(err?.message ?? err);
            }
          }),
        ),
      );
    });
    replace(listEl, table(["Key", "Type", h("th", { class: "num" }, "Size"), "Value", ""], rows));
  }

  main.querySelector("#scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void load(null);
  });
  more.addEventListener("click", () => void load(cursor));
  main.querySelector("#new-key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ttlS = newTtl.value === "" ? undefined : Number(newTtl.value);
    if (ttlS !== undefined && !(Number.isInteger(ttlS) && ttlS > 0)) {
      newStatus.textContent = "TTL must be a whole number of seconds, 1 or more";
      return;
    }
    try {
      await writeBatch([{
        op: "put",
        key: utf8Bytes(newKey.value),
        value: utf8Bytes(newValue.value),
        ttlMs: ttlS === undefined ? undefined : ttlS * 1000,
      }]);
      newStatus.textContent = `Saved ${newKey.value}`;
      newKey.value = "";
      newValue.value = "";
      newTtl.value = "";
      await load(null);
    } catch (err) {
      newStatus.textContent = String(err?.message ?? err);
    }
  });
  await load(null);
}
