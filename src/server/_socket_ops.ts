/**
 * Socket reads and reply writes of a RESP connection through Deno's read and write ops
 * themselves. Private to `src/server/`.
 *
 * `Deno.Conn.read` is an async function around the runtime's read op (`core.read(rid, buf)`):
 * per read it makes its own promise and awaits the op's, and adds the op's promise to a set
 * and removes it again (the set serves `unref()`, which a server connection never calls).
 * Awaiting the op's promise directly does the same read with the same result (bytes read, 0 at
 * the end of the stream, the same errors) and, measured under cachegrind with a bare PING
 * server and redis-benchmark (50 clients), ~2,000-3,300 fewer instructions per request out of
 * ~12,000. `Deno.Conn.write` calls the write op through one more function; the connection's
 * reply writes (`_connection_output.ts`) call the op itself. Close and shutdown stay
 * `Deno.Conn`'s.
 *
 * The op is reached through `Deno[Deno.internal].core`, which is not a stable API: when it is
 * not there, or a connection has no resource id (an in-memory connection in a benchmark),
 * `ridOf` answers -1 and the caller uses `conn.read` and `conn.write`.
 * tests/server/socket_ops_test.ts checks that the ops are found on this Deno, so an upgrade
 * that moves them fails a test instead of quietly running the slower path.
 *
 * @module
 */

/** The runtime's read op: bytes read into `buf`, 0 at the end of the stream. */
type ReadOp = (rid: number, buf: Uint8Array) => Promise<number>;

/** The runtime's write op: bytes of `buf` written (maybe fewer than all). */
type WriteOp = (rid: number, buf: Uint8Array) => Promise<number>;

interface CoreOps {
  read: ReadOp;
  write: WriteOp;
  internalRidSymbol: symbol;
}

function findCore(): CoreOps | undefined {
  try {
    const deno = Deno as unknown as Record<symbol | string, unknown>;
    const internal = deno["internal"];
    if (typeof internal !== "symbol" && typeof internal !== "string") return undefined;
    const core = (deno[internal] as { core?: Partial<CoreOps> } | undefined)?.core;
    if (
      typeof core?.read !== "function" || typeof core.write !== "function" ||
      typeof core.internalRidSymbol !== "symbol"
    ) {
      return undefined;
    }
    return core as CoreOps;
  } catch {
    return undefined;
  }
}

const CORE = findCore();

/** The read op, `undefined` when this runtime does not expose it. */
export const readOp: ReadOp | undefined = CORE?.read;

/** The write op `conn.write` calls, `undefined` when this runtime does not expose it. */
export const writeOp: WriteOp | undefined = CORE?.write;

/** The resource id of `conn` for `readOp`, or -1 when `conn.read` must be used. */
export function ridOf(conn: Deno.Conn): number {
  if (CORE === undefined) return -1;
  try {
    const rid = (conn as unknown as Record<symbol, unknown>)[CORE.internalRidSymbol];
    return typeof rid === "number" && Number.isInteger(rid) && rid >= 0 ? rid : -1;
  } catch {
    return -1;
  }
}
