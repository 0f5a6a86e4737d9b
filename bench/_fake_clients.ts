/**
 * What the in-process CPU benches (bench/types_cpu.ts, bench/ts_add_cpu.ts) share to drive a
 * real RESP server with in-memory clients: a listener that hands out prepared connections, the
 * turn-of-the-loop scheduling of the clients whose next command is due, the main thread's CPU
 * clock, and request encoding. Each bench keeps its own connection class (what it counts per
 * reply differs).
 *
 * @module
 */

const enc = new TextEncoder();

/** Nanoseconds the main thread has run (/proc/self/task/PID/schedstat). */
export function mainThreadNs(): number {
  const s = Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/schedstat`);
  return Number(s.split(" ")[0]);
}

/** `args` as one RESP request. */
export function encodeCommand(args: string[]): Uint8Array {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${enc.encode(a).length}\r\n${a}\r\n`;
  return enc.encode(s);
}

/** A client that delivers its next command when asked. */
export interface DueClient {
  deliver(): void;
}

/** Clients whose next command is due in the next turn of the event loop. */
const due: DueClient[] = [];
let dueScheduled = false;

/** Delivers `conn`'s next command in the next turn of the event loop, with the others due. */
export function scheduleDue(conn: DueClient): void {
  due.push(conn);
  if (dueScheduled) return;
  dueScheduled = true;
  setImmediate(() => {
    dueScheduled = false;
    for (const c of due.splice(0)) c.deliver();
  });
}

/** A listener handing out `conns` (in-memory `Deno.Conn`s), then waiting until closed. */
function fakeListener(conns: unknown[]): Deno.Listener {
  let closed: () => void = () => {};
  const whenClosed = new Promise<never>((_, reject) => {
    closed = () => reject(new Error("closed"));
  });
  whenClosed.catch(() => {});
  return {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 6379 },
    rid: -1,
    accept: () => {
      const c = conns.shift();
      return c === undefined ? whenClosed : Promise.resolve(c as Deno.Conn);
    },
    close: () => closed(),
    ref() {},
    unref() {},
    [Symbol.asyncIterator]() {
      throw new Error("not used");
    },
    [Symbol.dispose]() {},
  } as unknown as Deno.Listener;
}

/**
 * Starts the RESP server of the checkout whose `src/` is at `src` over a fresh database (sync
 * "none"; the server's own sync mode "always", so replies still wait for a group commit) that
 * accepts `conns` instead of sockets. `close` stops both and removes the directory.
 */
export async function startFakeServer(
  src: URL,
  conns: unknown[],
  prefix: string,
): Promise<{ close(): Promise<void> }> {
  type DatabaseModule = typeof import("../src/mod.ts");
  type ServerModule = typeof import("../src/server/mod.ts");
  const { Database } = await import(new URL("mod.ts", src).href) as DatabaseModule;
  const { startServer } = await import(new URL("server/mod.ts", src).href) as ServerModule;
  const dir = await Deno.makeTempDir({ prefix });
  const db = await Database.open(dir, { syncMode: "none" });
  const listen = Deno.listen;
  Object.defineProperty(Deno, "listen", { value: () => fakeListener([...conns]) });
  let server;
  try {
    server = await startServer(db, { port: 0, syncMode: "always" });
  } finally {
    Object.defineProperty(Deno, "listen", { value: listen });
  }
  return {
    async close() {
      await server.close();
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
