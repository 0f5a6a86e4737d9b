/**
 * Pub/sub benchmark rows of the server section: PUBLISH to 1 and to 100 subscribers, CityHall
 * (`cityhall serve`, and in-process in the note) beside redis-server, ratio printed.
 *
 * The load runs as its own process (`deno run bench/pubsub.ts --port=… …`) so it never shares
 * the measured server's event loop: it connects the subscribers and waits for their
 * confirmations, then `PUBLISHERS` connections each send their share of PUBLISH commands
 * pipelined `PIPELINE` deep, and the clock stops when every subscriber has received every
 * message (counted in exact frame bytes) and every PUBLISH was answered with the subscriber
 * count. Published messages per second is the figure; deliveries per second = that × subscribers.
 *
 * Standalone: `deno run -A bench/pubsub.ts --port=6379 --subscribers=100 --messages=20000`.
 */

import { type Row, scaled } from "./harness.ts";

const PUBLISHERS = 10;
const PIPELINE = 16;
const PAYLOAD_BYTES = 100;
const ROUNDS = 2;
const CHANNEL = "bench";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One load run's options. */
interface PubSubOptions {
  port: number;
  subscribers: number;
  messages: number;
}

/** One load run's result. */
interface PubSubResult {
  publishedPerSec: number;
  deliveredPerSec: number;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Runs one measurement against `port` (in this process). */
async function runPubSub(o: PubSubOptions): Promise<PubSubResult> {
  const payload = "p".repeat(PAYLOAD_BYTES);
  const frameBytes =
    `*3\r\n$7\r\nmessage\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n$${PAYLOAD_BYTES}\r\n${payload}\r\n`
      .length;
  const confirm = `*3\r\n$9\r\nsubscribe\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n:1\r\n`.length;
  const expected = o.messages * frameBytes;
  const subs = await Promise.all(
    Array.from(
      { length: o.subscribers },
      () => Deno.connect({ hostname: "127.0.0.1", port: o.port }),
    ),
  );
  let started = 0;
  let pendingSubs = o.subscribers;
  let allDelivered!: () => void;
  const delivered = new Promise<void>((resolve) => allDelivered = resolve);
  let confirmed!: () => void;
  const allConfirmed = new Promise<void>((resolve) => confirmed = resolve);
  let toConfirm = o.subscribers;
  const readers = subs.map(async (conn) => {
    await writeAll(conn, enc.encode(`SUBSCRIBE ${CHANNEL}\r\n`));
    const buf = new Uint8Array(1 << 16);
    let got = -confirm;
    let wasConfirmed = false;
    while (true) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("subscriber closed");
      got += n;
      if (!wasConfirmed && got >= 0) {
        wasConfirmed = true;
        if (--toConfirm === 0) confirmed();
      }
      if (got >= expected) break;
    }
    if (--pendingSubs === 0) allDelivered();
  });
  await allConfirmed;
  const command = enc.encode(
    `*3\r\n$7\r\nPUBLISH\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n$${PAYLOAD_BYTES}\r\n${payload}\r\n`,
  );
  const reply = enc.encode(`:${o.subscribers}\r\n`);
  const pubs = await Promise.all(
    Array.from({ length: PUBLISHERS }, () => Deno.connect({ hostname: "127.0.0.1", port: o.port })),
  );
  started = performance.now();
  await Promise.all(pubs.map(async (conn, i) => {
    const share = Math.floor(o.messages / PUBLISHERS) + (i < o.messages % PUBLISHERS ? 1 : 0);
    const buf = new Uint8Array(1 << 16);
    let sent = 0;
    let answered = 0;
    let partial = "";
    while (answered < share) {
      const batch = Math.min(PIPELINE, share - sent);
      if (sent - answered === 0 && batch > 0) {
        const out = new Uint8Array(command.length * batch);
        for (let k = 0; k < batch; k++) out.set(command, k * command.length);
        await writeAll(conn, out);
        sent += batch;
      }
      const n = await conn.read(buf);
      if (n === null) throw new Error("publisher closed");
      partial += dec.decode(buf.subarray(0, n));
      const text = dec.decode(reply);
      while (partial.startsWith(text)) {
        partial = partial.slice(text.length);
        answered++;
      }
      if (partial.length > 0 && !text.startsWith(partial)) {
        throw new Error(`unexpected PUBLISH reply ${JSON.stringify(partial.slice(0, 40))}`);
      }
    }
  }));
  await delivered;
  await Promise.all(readers);
  const seconds = (performance.now() - started) / 1000;
  for (const c of [...subs, ...pubs]) c.close();
  const publishedPerSec = o.messages / seconds;
  return { publishedPerSec, deliveredPerSec: publishedPerSec * o.subscribers };
}

/** Runs one measurement in a child process (never in the measured server's process). */
async function runPubSubProcess(o: PubSubOptions): Promise<PubSubResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--no-prompt",
      new URL(import.meta.url).pathname,
      `--port=${o.port}`,
      `--subscribers=${o.subscribers}`,
      `--messages=${o.messages}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  if (!out.success) throw new Error(`pub/sub load failed: ${dec.decode(out.stderr).trim()}`);
  return JSON.parse(dec.decode(out.stdout)) as PubSubResult;
}

/** A server to measure: its name and port. */
export interface PubSubTarget {
  name: string;
  port: number;
}

/**
 * The pub/sub rows: for 1 and 100 subscribers, every target measured `ROUNDS` times in
 * alternation, the best of each kept; CityHall's figure is `proc` when present.
 */
export async function pubsubRows(
  targets: PubSubTarget[],
  notes: { procNote: string; peerNote: string; peer: string },
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const subscribers of [1, 100]) {
    const messages = subscribers === 1 ? scaled(100_000) : scaled(20_000);
    const best = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        const r = await runPubSubProcess({ port: t.port, subscribers, messages });
        best.set(t.name, Math.max(best.get(t.name) ?? 0, r.publishedPerSec));
      }
    }
    const main = best.get(targets.some((t) => t.name === "proc") ? "proc" : "inproc")!;
    const inproc = best.get("inproc");
    const peer = best.get("redis");
    const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
    rows.push({
      name: `server PUBLISH to ${subscribers} subscriber${subscribers === 1 ? "" : "s"}`,
      unit: "msgs/s",
      cityhall: main,
      ...(peer !== undefined ? { denoKv: peer, peer: notes.peer } : {}),
      note: `bench/pubsub.ts: ${messages} PUBLISHes of ${PAYLOAD_BYTES} B from ${PUBLISHERS} ` +
        `connections pipelined ${PIPELINE}, until every subscriber got every message ` +
        `(${fmt(main * subscribers)} deliveries/s); best of ${ROUNDS}; ${notes.procNote}` +
        (inproc !== undefined && main !== inproc ? `; in-process server: ${fmt(inproc)}/s` : "") +
        `; ${notes.peerNote}`,
    });
  }
  return rows;
}

function parseFlags(argv: string[]): PubSubOptions {
  const flags = new Map<string, number>();
  for (const a of argv) {
    const m = /^--([a-z]+)=(\d+)$/.exec(a);
    if (!m) throw new Error(`bad argument ${a} (use --port=N --subscribers=N --messages=N)`);
    flags.set(m[1]!, Number(m[2]));
  }
  return {
    port: flags.get("port") ?? 6379,
    subscribers: flags.get("subscribers") ?? 1,
    messages: flags.get("messages") ?? 10_000,
  };
}

if (import.meta.main) {
  try {
    console.log(JSON.stringify(await runPubSub(parseFlags(Deno.args))));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
}
