// DOM building for the console. Keys, values and label values are user data: they only ever
// become text nodes or property values, never markup. `h` refuses the properties that would
// parse HTML or inline style, and the page's CSP (Trusted Types) makes the browser refuse any
// string assigned to innerHTML as well.

const FORBIDDEN = new Set(["innerHTML", "outerHTML", "style", "srcdoc"]);

/** Appends children: strings and numbers as text nodes, arrays flattened, null skipped. */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

/**
 * Creates an element: `h("a", { href: "#/keys", class: "x", onclick: fn }, "text", child)`.
 * `on*` properties become event listeners, `class` the class name, `dataset` data attributes;
 * known DOM properties (value, checked, href, type…) are set as properties, others as attributes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (FORBIDDEN.has(name) || name.startsWith("on") && typeof value !== "function") {
      throw new Error(`h(): property ${name} is not allowed`);
    }
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else if (name === "value" || name === "href" || name === "title") el[name] = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  return append(el, children);
}

/** Removes every child of `el` and appends `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A `<table>` with a header row and one row per item. */
export function table(headers, rows) {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h("tr", {}, headers.map((t) => typeof t === "string" ? h("th", {}, t) : t)),
    ),
    h("tbody", {}, rows),
  );
}

/** A label/value tile for the health and replication pages. */
export function stat(label, value, sub, valueClass) {
  return h(
    "div",
    { class: "stat" },
    h("div", { class: "label" }, label),
    h("div", { class: valueClass ? `value ${valueClass}` : "value" }, value),
    sub ? h("div", { class: "sub" }, sub) : null,
  );
}

/** Starts a browser download of `text` as `filename`. */
export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
