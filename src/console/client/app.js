// The console's entry point: sign-in, the hash router (#/page?params: the token never goes in
// a URL, keys only as percent-encoded bytes) and the page life cycle (each page returns a
// cleanup that stops its timers when another page opens).

import { ApiError, getJson, setToken, token, whenUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import { HashParams } from "./nav.js";

const PAGES = {
  health: () => import("./health_page.js"),
  series: () => import("./series_page.js"),
  chart: () => import("./chart_page.js"),
  keys: () => import("./keys_page.js"),
  key: () => import("./key_page.js"),
  replication: () => import("./replication_page.js"),
};
/** Which nav entry is highlighted for each page. */
const NAV_OF = { key: "keys" };

const main = document.getElementById("main");
const loginSection = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const loginError = document.getElementById("login-error");
const tokenInput = document.getElementById("token");
const logoutButton = document.getElementById("logout");
const serverLabel = document.getElementById("server");

let cleanup = () => {};
let generation = 0;
let signedIn = false;

function showLogin(message) {
  cleanup();
  cleanup = () => {};
  signedIn = false;
  main.hidden = true;
  loginSection.hidden = false;
  logoutButton.hidden = true;
  loginError.textContent = message ?? "";
  tokenInput.focus();
}

/** Renders the page the hash names; a page's `render(main, params)` may return a cleanup. */
async function route() {
  if (!signedIn) return;
  const hash = location.hash.replace(/^#\/?/, "");
  const q = hash.indexOf("?");
  const name = (q < 0 ? hash : hash.slice(0, q)) || "health";
  const params = new HashParams(q < 0 ? "" : hash.slice(q + 1));
  const load = PAGES[name];
  cleanup();
  cleanup = () => {};
  const mine = ++generation;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === (NAV_OF[name] ?? name));
  }
  if (load === undefined) {
    replace(main, h("p", { class: "error" }, `No page ${JSON.stringify(name)}`));
    return;
  }
  try {
    const page = await load();
    if (mine !== generation) return;
    replace(main);
    const stop = await page.render(main, params);
    if (mine !== generation) {
      stop?.();
      return;
    }
    cleanup = stop ?? (() => {});
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof ApiError && err.status === 401) return;
    replace(main, h("p", { class: "error" }, String(err?.message ?? err)));
  }
}

/** Asks the server whether the token (or no token) is accepted; shows the app or sign-in. */
async function start(message) {
  try {
    const stats = await getJson("/v1/stats");
    signedIn = true;
    loginSection.hidden = true;
    main.hidden = false;
    logoutButton.hidden = token() === "";
    serverLabel.textContent = `v${stats.server?.version ?? "?"}`;
    await route();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showLogin(message ?? (token() === "" ? "" : "The server refused this token"));
    } else {
      replace(main, h("p", { class: "error" }, `Cannot reach the server: ${err?.message ?? err}`));
    }
  }
}

whenUnauthorized(() => {
  if (signedIn) showLogin("The server refused the token: sign in again");
});

loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  setToken(tokenInput.value.trim());
  tokenInput.value = "";
  loginError.textContent = "";
  void start("Wrong token");
});

logoutButton.addEventListener("click", () => {
  setToken("");
  showLogin("Signed out");
});

addEventListener("hashchange", () => void route());
void start();
