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
export function fakeListener(conns: unknown[]): Deno.Listener {
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
