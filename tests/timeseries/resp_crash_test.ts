/**
 * kill -9 audit of time-series writes over RESP against a real `cityhall serve --sync always`:
 * concurrent raw clients (pipeline 1 and pipelined) each own their series and send a seeded mix
 * -- TS.CREATE with CHUNK_SIZE 48 under every policy, TS.ADD of newer samples, of the newest
 * again (with and without ON_DUPLICATE: the one-sample upsert), out of order into sealed
 * chunks, auto-creating TS.ADD with LABELS, TS.MADD, TS.INCRBY/DECRBY with TIMESTAMP, TS.DEL
 * ranges, and the server's clock (`TS.ADD key * v ON_DUPLICATE LAST`, `TS.INCRBY key d`) --
 * while another connection SAVEs and BGSAVEs (checkpoints mid-load), and check every reply
 * against a model (`_resp_crash_model.ts`). The server is killed at a random moment and
 * restarted on the same directory; then, per client, the series must be exactly the model after
 * every acknowledged command plus some prefix of the unanswered ones (the same prefix for all
 * its series), each clock-stamped key must hold every acknowledged sample (or a later
 * unanswered value at its newest timestamp) and only values that were sent, and KEYS and
 * TS.QUERYINDEX must list exactly the series that exist, each under its own labels. One round
 * restarts after a SIGTERM instead; about a third of the restarts are killed once more just
 * after their start, before any write. Rounds accumulate in one directory.
 * CITYHALL_TS_RESP_CRASH_ROUNDS sets the rounds (default 10); CITYHALL_SEED replays the
 * commands and the kill timing (not the server's clock or scheduling).
 */

import { assert, assertEquals } from "@std/assert";
import {
  encodeCommand,
  ReplyReader,
  RespClient,
  type RespReply,
} from "../../src/cli/resp_client.ts";
import { intFromEnv, Rng, seedFromEnv } from "../_helpers/random.ts";
import { startServe, tempDir } from "../cli/_helpers.ts";
import {
  ClientModel,
  CLOCK_KINDS,
  clockKey,
  type ClockKind,
  commandOf,
  type SeriesModel,
  show,
  type State,
} from "./_resp_crash_model.ts";

const ROUNDS = intFromEnv("CITYHALL_TS_RESP_CRASH_ROUNDS", 10);
/** Pipeline depth of each client: its index is the client's. */
const DEPTHS = [1, 1, 4, 16, 16, 8];
/** The round that ends with SIGTERM (a clean shutdown), for comparison. */
const SIGTERM_ROUND = 2;
/** Commands acknowledged in a round before the kill timer starts. */
const ACKS_BEFORE_KILL_MIN = 300;
const SERVE_FLAGS = ["--no-http", "--sync", "always", "--memtable-mb", "1"];

const decoder = new TextDecoder();
/** Commands unanswered at the kills, and how many of them the restarted server showed. */
const stats = { unanswered: 0, landed: 0, saves: 0, recoveryKills: 0, recoveryKillsBeforeOpen: 0 };

/** Sends the client's commands, `depth` at a time, until the connection fails. */
async function load(
  port: number,
  model: ClientModel,
  depth: number,
  problems: string[],
  onAck: () => void,
): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return;
  }
  const reader = new ReplyReader();
  const chunk = new Uint8Array(64 * 1024);
  try {
    while (problems.length === 0) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < depth; i++) {
        parts.push(encodeCommand(commandOf(model.owner, model.next())));
      }
      const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
      let off = 0;
      for (const p of parts) {
        bytes.set(p, off);
        off += p.length;
      }
      for (let w = 0; w < bytes.length;) w += await conn.write(bytes.subarray(w));
      for (let answered = 0; answered < depth;) {
        const reply = reader.next();
        if (reply === undefined) {
          const n = await conn.read(chunk);
          if (n === null) return;
          reader.push(chunk.subarray(0, n));
          continue;
        }
        answered++;
        const problem = model.acknowledge(reply);
        if (problem !== undefined) problems.push(problem);
        onAck();
      }
    }
  } catch {
    // The server died mid-pipeline: whatever was answered is recorded.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * SAVE and BGSAVE, now and then, until the server dies: each checkpoints every head with
 * uncheckpointed samples (its state record rewritten) while the clients keep writing, so the
 * restart replays the log on top of checkpoints taken mid-load.
 */
async function saver(port: number, rng: Rng, done: () => boolean): Promise<number> {
  let saves = 0;
  let client: RespClient;
  try {
    client = await RespClient.connect({ hostname: "127.0.0.1", port });
  } catch {
    return saves;
  }
  try {
    while (!done()) {
      await new Promise((resolve) => setTimeout(resolve, 5 + rng.int(40)));
      const reply = await client.command([rng.chance(0.5) ? "SAVE" : "BGSAVE"]);
      if (reply.kind !== "error") saves++;
    }
  } catch {
    // The server died.
  } finally {
    client.close();
  }
  return saves;
}

/** Samples of a TS.RANGE reply; undefined for a missing key. */
function samplesOf(key: string, reply: RespReply): Map<number, number> | undefined {
  if (reply.kind === "error") {
    assert(reply.value.includes("does not exist"), `TS.RANGE ${key}: ${reply.value}`);
    return undefined;
  }
  if (reply.kind !== "array" || reply.value === null) {
    throw new Error(`TS.RANGE ${key}: ${show(reply)}`);
  }
  const out = new Map<number, number>();
  for (const pair of reply.value) {
    const [t, v] = pair.kind === "array" && pair.value !== null ? pair.value : [];
    if (t?.kind !== "integer" || (v?.kind !== "simple" && v?.kind !== "bulk")) {
      throw new Error(`TS.RANGE ${key}: a sample ${show(pair)}`);
    }
    const text = v.kind === "simple" ? v.value : decoder.decode(v.value!);
    out.set(Number(t.value), Number(text));
  }
  return out;
}

function sameSamples(a: Map<number, number> | undefined, b: Map<number, number> | undefined) {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const [t, v] of a) if (!Object.is(b.get(t), v)) return false;
  return true;
}

function diff(a: Map<number, number> | undefined, b: Map<number, number> | undefined): string {
  if (a === undefined || b === undefined) {
    return `${a ? "present" : "missing"} vs ${b ? "present" : "missing"}`;
  }
  const out: string[] = [];
  for (const [t, v] of a) if (!Object.is(b.get(t), v)) out.push(`${t}: ${v} vs ${b.get(t)}`);
  for (const [t, v] of b) if (!a.has(t)) out.push(`${t}: none vs ${v}`);
  return out.slice(0, 8).join(", ");
}

/**
 * Checks clock key `kind` (see `ClockKind`) against what was acknowledged and sent; returns
 * the fewest pending commands that must have landed for what it holds.
 */
function checkClock(
  model: ClientModel,
  kind: ClockKind,
  actual: Map<number, number> | undefined,
  label: string,
): number {
  const key = clockKey(model.owner, kind);
  const acked = model.clocks[kind];
  const pending = model.pendingClockValues(kind);
  if (acked !== undefined) assert(actual !== undefined, `${label}: ${key} lost`);
  if (actual === undefined) return 0;
  const lastAcked = acked === undefined ? -1 : Math.max(...acked.keys());
  for (const [t, v] of acked ?? []) {
    const got = actual.get(t);
    // A later command in the same millisecond may have replaced the newest (LAST; INCRBY).
    if (t === lastAcked && got !== undefined && pending.has(got)) continue;
    assert(Object.is(got, v), `${label}: ${key} at ${t} holds ${got}, acknowledged ${v}`);
  }
  let lastIndex = -1;
  for (const t of [...actual.keys()].sort((a, b) => a - b)) {
    const v = actual.get(t)!;
    if (acked?.get(t) === v) continue;
    const index = pending.get(v);
    if (index === undefined) throw new Error(`${label}: ${key} at ${t} holds ${v}, never sent`);
    assert(t >= lastAcked && index > lastIndex, `${label}: ${key} at ${t}: ${v} out of order`);
    lastIndex = index;
  }
  return lastIndex + 1;
}

/** Audits one client's series on a restarted server and adopts what it holds. */
async function audit(client: RespClient, model: ClientModel, label: string): Promise<void> {
  const keys = [...model.projected.keys()].sort();
  const clocks = CLOCK_KINDS.map((kind) => clockKey(model.owner, kind));
  const replies = await client.pipeline([
    ...[...keys, ...clocks].map((k) => ["TS.RANGE", k, "-", "+"]),
    ["KEYS", `${model.owner}:*`],
    ["TS.QUERYINDEX", `owner=${model.owner}`],
  ]);
  const actual = new Map(keys.map((k, i) => [k, samplesOf(k, replies[i]!)]));
  const actualClocks = {
    add: samplesOf(clocks[0]!, replies[keys.length]!),
    incr: samplesOf(clocks[1]!, replies[keys.length + 1]!),
  };
  const minPrefix = Math.max(
    ...CLOCK_KINDS.map((kind) => checkClock(model, kind, actualClocks[kind], label)),
  );
  let chosen: State | undefined;
  let chosenPrefix = 0;
  let misses = "";
  for (let p = minPrefix; p <= model.pending.length && chosen === undefined; p++) {
    const candidate = model.candidate(p);
    const bad = keys.find((k) => !sameSamples(candidate.get(k)?.samples, actual.get(k)));
    if (bad === undefined) {
      chosen = candidate;
      chosenPrefix = p;
    } else if (p === minPrefix || p === model.pending.length) {
      misses +=
        `\n  after ${p} of ${model.pending.length} unanswered: ${bad} differs (model vs server) ${
          diff(candidate.get(bad)?.samples, actual.get(bad))
        }`;
    }
  }
  if (chosen === undefined) {
    const unanswered = model.pending.map((op) => commandOf(model.owner, op).slice(0, 6).join(" "));
    throw new Error(
      `${label}: ${model.owner}'s series are no acknowledged-plus-prefix state:${misses}\n  unanswered: ${
        show(unanswered)
      }`,
    );
  }
  const existing = [...chosen.keys(), ...clocks.filter((_, i) => actualClocks[CLOCK_KINDS[i]!])]
    .sort();
  const listed = (r: RespReply) =>
    r.kind === "array" && r.value
      ? r.value.map((x) => x.kind === "bulk" && x.value ? decoder.decode(x.value) : show(x)).sort()
      : [show(r)];
  assertEquals(listed(replies[keys.length + 2]!), existing, `${label}: KEYS ${model.owner}:*`);
  assertEquals(
    listed(replies[keys.length + 3]!),
    existing,
    `${label}: QUERYINDEX owner=${model.owner}`,
  );
  const byName = await client.pipeline(
    existing.map((
      k,
    ) => ["TS.QUERYINDEX", `name=${k.replaceAll(":", "_")}`, `owner=${model.owner}`]),
  );
  byName.forEach((r, i) =>
    assertEquals(listed(r), [existing[i]!], `${label}: labels of ${existing[i]}`)
  );
  stats.unanswered += model.pending.length;
  stats.landed += chosenPrefix;
  model.adopt(chosen, actualClocks);
}

function sampleCount(models: ClientModel[]): number {
  let n = 0;
  for (const m of models) {
    for (const s of m.committed.values() as Iterable<SeriesModel>) n += s.samples.size;
    for (const kind of CLOCK_KINDS) n += m.clocks[kind]?.size ?? 0;
  }
  return n;
}

Deno.test(`cityhall serve keeps every acknowledged time-series write across ${ROUNDS} kill -9 rounds`, async () => {
  const seed = seedFromEnv();
  console.log(`seed ${seed} (CITYHALL_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const models = DEPTHS.map((_, c) => new ClientModel(c, new Rng(seed + 7919 * (c + 1))));
  const [dir, cleanup] = await tempDir("cityhall-ts-resp-crash-");
  let acks = 0;
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      if (round > 0 && rng.chance(0.3)) {
        // A kill just after a start, with no new write: the next start recovers on top of
        // whatever this recovery wrote (WAL tail sealed, replay). The time-series layer opens
        // just after the listening line, usually within a millisecond: the run counts the kills
        // that came before it (rarely any).
        const early = await startServe(dir, SERVE_FLAGS);
        const delayMs = rng.chance(0.5) ? 0 : rng.int(40);
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        early.child.kill("SIGKILL");
        await early.exited;
        stats.recoveryKills++;
        if (!early.log().includes("time series opened")) stats.recoveryKillsBeforeOpen++;
      }
      const serve = await startServe(dir, SERVE_FLAGS);
      const client = await RespClient.connect({ hostname: "127.0.0.1", port: serve.port });
      try {
        for (const m of models) await audit(client, m, `after round ${round - 1}`);
      } finally {
        client.close();
      }
      if (round === ROUNDS) {
        assertEquals(await serve.stop(), 0);
        break;
      }
      const sigterm = round === SIGTERM_ROUND;
      let roundAcks = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let killed = false;
      const killAfterMs = rng.int(600);
      const onAck = () => {
        acks++;
        if (++roundAcks === ACKS_BEFORE_KILL_MIN) {
          timer = setTimeout(() => {
            killed = true;
            serve.child.kill(sigterm ? "SIGTERM" : "SIGKILL");
          }, killAfterMs);
        }
      };
      const problems: string[] = [];
      let loading = true;
      const loads = models.map((m, c) => load(serve.port, m, DEPTHS[c]!, problems, onAck));
      const saves = saver(serve.port, rng, () => !loading);
      // The clients stop when the server dies, or at a wrong reply (then it is killed here).
      await Promise.all(loads);
      loading = false;
      stats.saves += await saves;
      if (!killed) {
        clearTimeout(timer);
        await serve.stop("SIGKILL");
      }
      const code = await serve.exited;
      assertEquals(problems, [], `round ${round}: wrong replies`);
      assert(roundAcks >= ACKS_BEFORE_KILL_MIN, `round ${round}: only ${roundAcks} acks`);
      assertEquals(code, sigterm ? 0 : 137, `round ${round}: serve exited with ${code}`);
    }
    console.log(
      `${acks} acknowledged commands; ${
        sampleCount(models)
      } samples audited at the end; ${stats.landed} of ${stats.unanswered} unanswered commands had landed; ${stats.saves} saves; ${
        models.reduce((n, m) => n + m.sameMs, 0)
      } clock-stamped upserts of the newest; ${stats.recoveryKills} kills just after a start (${stats.recoveryKillsBeforeOpen} before the time-series layer opened)`,
    );
  } catch (err) {
    console.error(`time-series RESP crash test failed: CITYHALL_SEED=${seed} dir=${dir}`);
    throw err;
  }
  await cleanup();
});
