/**
 * A small Chrome DevTools Protocol client for browser tests: launches Debian's headless
 * `chromium` (or `CITYHALL_CHROMIUM`) with a fresh profile, reads the DevTools WebSocket URL
 * from its stderr, and drives pages over Deno's built-in WebSocket. No npm driver: the tests
 * need a dozen CDP methods, and owning them keeps timeouts, process cleanup and Deno's test
 * sanitizers under our control.
 *
 * @module
 */

import { type Child, spawnChild } from "./child.ts";

/** Where the browser is (Debian's package; `.ci/run` installs it). */
export const CHROMIUM: string = Deno.env.get("CITYHALL_CHROMIUM") ?? "/usr/bin/chromium";

/** Longest wait for one CDP reply or one `waitFor`. */
const COMMAND_TIMEOUT_MS = 30_000;

type Json = Record<string, unknown>;

interface Pending {
  resolve(value: Json): void;
  reject(err: Error): void;
}

/** A console message, exception or log entry the page produced. */
export interface PageMessage {
  /** `console`, `exception` or the Log domain's source (`security`, `network`, …). */
  source: string;
  /** `error`, `warning`, `log`, … */
  level: string;
  /** The text. */
  text: string;
}

/** One CDP connection to the browser; pages are flattened sessions on it. */
class Connection {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, ((params: Json, sessionId?: string) => void)[]>();
  #nextId = 1;
  readonly closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (event) => {
      const msg = JSON.parse(String(event.data)) as Json;
      if (typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (p === undefined) return;
        if (msg.error !== undefined) p.reject(new Error(`CDP: ${JSON.stringify(msg.error)}`));
        else p.resolve((msg.result ?? {}) as Json);
        return;
      }
      for (const fn of this.#listeners.get(String(msg.method)) ?? []) {
        fn((msg.params ?? {}) as Json, msg.sessionId as string | undefined);
      }
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP connection closed"));
      this.#pending.clear();
    });
  }

  static async open(url: string): Promise<Connection> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`Cannot connect to ${url}`)), {
        once: true,
      });
    });
    return new Connection(ws);
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#nextId++;
    const msg: Json = { id, method, params };
    if (sessionId !== undefined) msg.sessionId = sessionId;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`CDP ${method}: no reply in ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#ws.send(JSON.stringify(msg));
    });
  }

  /** Calls `fn` for each `method` event; returns the function that stops it. */
  on(method: string, fn: (params: Json, sessionId?: string) => void): () => void {
    const list = this.#listeners.get(method) ?? [];
    list.push(fn);
    this.#listeners.set(method, list);
    return () => {
      const now = this.#listeners.get(method) ?? [];
      this.#listeners.set(method, now.filter((f) => f !== fn));
    };
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
    await this.closed;
  }
}

/** A tab. */
export class Page {
  /** Everything the page logged, threw or reported (CSP violations come as `security`). */
  readonly messages: PageMessage[] = [];

  constructor(readonly conn: Connection, readonly sessionId: string) {}

  /** Sends a CDP command to this page. */
  send(method: string, params: Json = {}): Promise<Json> {
    return this.conn.send(method, params, this.sessionId);
  }

  /** Evaluates `expression` (awaiting a promise) and returns its JSON value; throws on error. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    const ex = r.exceptionDetails as Json | undefined;
    if (ex !== undefined) {
      const desc = (ex.exception as Json | undefined)?.description ?? ex.text;
      throw new Error(`Page threw: ${desc}`);
    }
    return (r.result as Json).value as T;
  }

  /** Loads `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    let stop = () => {};
    const loaded = new Promise<void>((resolve) => {
      stop = this.conn.on("Page.loadEventFired", (_p, sid) => {
        if (sid === this.sessionId) resolve();
      });
    });
    await this.send("Page.navigate", { url });
    await loaded;
    stop();
  }

  /** Polls `expression` until it is truthy; returns its value. */
  async waitFor<T = unknown>(expression: string, what = expression): Promise<T> {
    const deadline = Date.now() + COMMAND_TIMEOUT_MS;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        last = await this.eval(expression);
        if (last) return last as T;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`Timed out waiting for ${what} (last: ${String(last)})`);
  }

  /** Sets an input's value as a user would (the `input` and `change` events fire). */
  async fill(selector: string, value: string): Promise<void> {
    await this.eval(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) throw new Error("No element " + ${JSON.stringify(selector)});
      el.focus();
      el.value = ${JSON.stringify(value)};
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    })()`);
  }

  /** Clicks the element (its `click()`, as a user's click dispatches it). */
  async click(selector: string): Promise<void> {
    await this.eval(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) throw new Error("No element " + ${JSON.stringify(selector)});
      el.click();
    })()`);
  }

  /** Drags the mouse from `(x1, y)` to `(x2, y)` (CSS pixels), as a user selecting a range. */
  async drag(x1: number, x2: number, y: number): Promise<void> {
    const event = (type: string, x: number, buttons: number) =>
      this.send("Input.dispatchMouseEvent", { type, x, y, button: "left", buttons, clickCount: 1 });
    await event("mouseMoved", x1, 0);
    await event("mousePressed", x1, 1);
    for (let i = 1; i <= 5; i++) await event("mouseMoved", x1 + ((x2 - x1) * i) / 5, 1);
    await event("mouseReleased", x2, 0);
  }

  /** The page-relative box of the first element matching `selector`. */
  async box(selector: string): Promise<{ x: number; y: number; width: number; height: number }> {
    return await this.eval(`(() => {
      const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    })()`);
  }

  /** A PNG screenshot of the viewport, or of `clip` (CSS pixels). */
  async screenshot(
    clip?: { x: number; y: number; width: number; height: number },
  ): Promise<Uint8Array> {
    const params: Json = { format: "png" };
    if (clip !== undefined) params.clip = { ...clip, scale: 1 };
    const r = await this.send("Page.captureScreenshot", params);
    const bin = atob(String(r.data));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  /** Messages at level `error` from the page itself (scripts, CSP), not failed requests. */
  errors(): PageMessage[] {
    return this.messages.filter((m) => m.level === "error" && m.source !== "network");
  }
}

/** A running headless Chromium. */
export class Browser {
  private constructor(
    readonly child: Child,
    readonly conn: Connection,
    readonly profileDir: string,
  ) {}

  /** Starts chromium with a new profile and connects to it. */
  static async launch(): Promise<Browser> {
    const profileDir = await Deno.makeTempDir({ prefix: "cityhall-chromium-" });
    const child = spawnChild(
      CHROMIUM,
      [
        "--headless",
        "--remote-debugging-port=0",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        `--user-data-dir=${profileDir}`,
        "about:blank",
      ],
      { stdout: "null" },
    );
    const listening = await child.waitForLine(/DevTools listening on (ws:\/\/\S+)/, {
      timeoutMs: COMMAND_TIMEOUT_MS,
    }).catch(() => undefined);
    const url = listening?.match?.[1];
    if (url === undefined) {
      await child.kill("SIGKILL");
      throw new Error(`chromium did not start: ${child.stderr.slice(-2000)}`);
    }
    const conn = await Connection.open(url);
    return new Browser(child, conn, profileDir);
  }

  /** Opens a tab with console, exception, log and CSP reporting on. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.conn.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.conn.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.conn, String(sessionId));
    const mine = (sid?: string) => sid === page.sessionId;
    this.conn.on("Runtime.consoleAPICalled", (p, sid) => {
      if (!mine(sid)) return;
      const args = (p.args as Json[]).map((a) => a.value ?? a.description ?? "").join(" ");
      page.messages.push({ source: "console", level: String(p.type), text: args });
    });
    this.conn.on("Runtime.exceptionThrown", (p, sid) => {
      if (!mine(sid)) return;
      const d = p.exceptionDetails as Json;
      const text = String((d.exception as Json | undefined)?.description ?? d.text);
      page.messages.push({ source: "exception", level: "error", text });
    });
    this.conn.on("Log.entryAdded", (p, sid) => {
      if (!mine(sid)) return;
      const e = p.entry as Json;
      page.messages.push({
        source: String(e.source),
        level: String(e.level),
        text: String(e.text),
      });
    });
    for (const domain of ["Page", "Runtime", "Log"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    // CSP violations also as an event, in case the log misses one.
    await page.send("Page.addScriptToEvaluateOnNewDocument", {
      source: `document.addEventListener("securitypolicyviolation", (e) =>
        console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));`,
    });
    return page;
  }

  /** Lets pages download files into `dir`. */
  async downloadsTo(dir: string): Promise<void> {
    await this.conn.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: dir });
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      await this.conn.send("Browser.close");
    } catch {
      // Closing drops the connection before or after the reply.
    }
    await this.conn.close().catch(() => {});
    const timer = setTimeout(() => this.child.signal("SIGKILL"), 5000);
    await this.child.exited;
    clearTimeout(timer);
    await Deno.remove(this.profileDir, { recursive: true }).catch(() => {});
  }
}
