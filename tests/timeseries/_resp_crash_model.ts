/**
 * The model of `resp_crash_test.ts`: one client's series (it alone writes them), the commands it
 * generates, what each must answer, and the states a restart may show. Every command but
 * those stamped by the server's clock is deterministic given the series before it, so the state
 * after the first p unacknowledged commands is exact; clock-stamped samples go to keys of their
 * own (`ClockKind`) whose values are unique per command, so a sample there names its command.
 *
 * @module
 */

import type { RespReply } from "../../src/cli/resp_client.ts";
import type { Rng } from "../_helpers/random.ts";

/** A duplicate policy as sent. */
export type Policy = "BLOCK" | "LAST" | "FIRST" | "MIN" | "MAX" | "SUM";
const POLICIES: readonly Policy[] = ["BLOCK", "LAST", "FIRST", "MIN", "MAX", "SUM"];

/** One series: its policy and samples (timestamp to value). */
export interface SeriesModel {
  policy: Policy;
  samples: Map<number, number>;
}

/** The deterministic series of a client by key (the `*` key is apart). */
export type State = Map<string, SeriesModel>;

/** One command and what it does. */
export type Op =
  | { t: "create"; key: string; policy: Policy }
  | {
    t: "add";
    key: string;
    ts: number;
    value: string;
    onDup?: Policy;
    /** Without creation options (the 4-argument form when there is no ON_DUPLICATE). */
    bare?: boolean;
    /** ON_DUPLICATE and its policy in lower case. */
    lower?: boolean;
  }
  | { t: "madd"; samples: { key: string; ts: number; value: string }[] }
  | { t: "incr"; key: string; delta: string; sign: 1 | -1; ts: number }
  | { t: "del"; key: string; from: number; to: number }
  | { t: "clock"; kind: ClockKind; value: string };

/**
 * The two keys written with the server's clock: `add` takes `TS.ADD key * value ON_DUPLICATE
 * LAST` (value unique per command), `incr` takes `TS.INCRBY key delta` (delta > 0, so every
 * value it reaches is unique): a sample there names the command that left it.
 */
export type ClockKind = "add" | "incr";
/** Both clock kinds. */
export const CLOCK_KINDS: readonly ClockKind[] = ["add", "incr"];

/** A reply as compared: an integer, OK, an error, or an array of them. */
export type Expected = number | "OK" | "ERR" | (number | "ERR")[];

/** CHUNK_SIZE of every series the test creates: the smallest, so chunks seal often. */
export const CHUNK_SIZE = 48;
const TS_START = 1_000_000;
/** Series a client auto-creates with TS.ADD … LABELS over the whole test. */
const AUTO_SERIES_MAX = 150;

/** The labels of `key`: `owner=<client>` and `name=<key with _ for :>`. */
export function labelsOf(owner: string, key: string): string[] {
  return ["LABELS", "owner", owner, "name", key.replaceAll(":", "_")];
}

/** The command of `op` for client `owner`. */
export function commandOf(owner: string, op: Op): string[] {
  switch (op.t) {
    case "create":
      return [
        "TS.CREATE",
        op.key,
        "CHUNK_SIZE",
        String(CHUNK_SIZE),
        "DUPLICATE_POLICY",
        op.policy,
        ...labelsOf(owner, op.key),
      ];
    case "add": {
      const cmd = ["TS.ADD", op.key, String(op.ts), op.value];
      if (op.onDup) {
        cmd.push(
          ...(op.lower ? ["on_duplicate", op.onDup.toLowerCase()] : ["ON_DUPLICATE", op.onDup]),
        );
      }
      if (op.bare) return cmd;
      // Creation options, read only when the series is missing.
      return [...cmd, "CHUNK_SIZE", String(CHUNK_SIZE), ...labelsOf(owner, op.key)];
    }
    case "madd":
      return ["TS.MADD", ...op.samples.flatMap((s) => [s.key, String(s.ts), s.value])];
    case "incr":
      return [
        op.sign === 1 ? "TS.INCRBY" : "TS.DECRBY",
        op.key,
        op.delta,
        "TIMESTAMP",
        String(op.ts),
        "CHUNK_SIZE",
        String(CHUNK_SIZE),
        ...labelsOf(owner, op.key),
      ];
    case "del":
      return ["TS.DEL", op.key, String(op.from), String(op.to)];
    case "clock": {
      const key = clockKey(owner, op.kind);
      const options = ["CHUNK_SIZE", String(CHUNK_SIZE), ...labelsOf(owner, key)];
      return op.kind === "add"
        ? ["TS.ADD", key, "*", op.value, "ON_DUPLICATE", "LAST", ...options]
        : ["TS.INCRBY", key, op.value, ...options];
    }
  }
}

/** The key of `owner`'s clock series of `kind`. */
export function clockKey(owner: string, kind: ClockKind): string {
  return kind === "add" ? `${owner}:star` : `${owner}:sctr`;
}

function combine(policy: Policy, existing: number, value: number): number | undefined {
  switch (policy) {
    case "BLOCK":
      return undefined;
    case "FIRST":
      return existing;
    case "LAST":
      return value;
    case "MIN":
      return Math.min(existing, value);
    case "MAX":
      return Math.max(existing, value);
    case "SUM":
      return existing + value;
  }
}

/** The value of the newest sample, 0 when there is none (where TS.INCRBY starts). */
function newestValue(samples: Map<number, number>): number {
  let best = -1;
  let value = 0;
  for (const [t, v] of samples) {
    if (t > best) [best, value] = [t, v];
  }
  return value;
}

function newest(s: SeriesModel): [number, number] | undefined {
  let best: [number, number] | undefined;
  for (const [t, v] of s.samples) if (best === undefined || t > best[0]) best = [t, v];
  return best;
}

/** Adds one sample as TS.ADD / TS.MADD do: its timestamp, or an error. */
function addSample(s: SeriesModel, ts: number, value: number, onDup?: Policy): number | "ERR" {
  const existing = s.samples.get(ts);
  if (existing === undefined) {
    s.samples.set(ts, value);
    return ts;
  }
  const next = combine(onDup ?? s.policy, existing, value);
  if (next === undefined) return "ERR";
  s.samples.set(ts, next);
  return ts;
}

/** Applies `op` to `state` (not a `clock` one) and returns what it must answer. */
export function apply(state: State, op: Op): Expected {
  switch (op.t) {
    case "create":
      if (state.has(op.key)) return "ERR";
      state.set(op.key, { policy: op.policy, samples: new Map() });
      return "OK";
    case "add": {
      let s = state.get(op.key);
      if (s === undefined) {
        s = { policy: "BLOCK", samples: new Map() };
        state.set(op.key, s);
      }
      return addSample(s, op.ts, Number(op.value), op.onDup);
    }
    case "madd":
      return op.samples.map((m) => {
        const s = state.get(m.key);
        return s === undefined ? "ERR" : addSample(s, m.ts, Number(m.value));
      });
    case "incr": {
      let s = state.get(op.key);
      if (s === undefined) {
        s = { policy: "BLOCK", samples: new Map() };
        state.set(op.key, s);
      }
      const last = newest(s);
      if (last !== undefined && op.ts < last[0]) return "ERR";
      s.samples.set(op.ts, (last?.[1] ?? 0) + op.sign * Number(op.delta));
      return op.ts;
    }
    case "del": {
      const s = state.get(op.key);
      if (s === undefined) return "ERR";
      let n = 0;
      for (const t of [...s.samples.keys()]) {
        if (t >= op.from && t <= op.to) {
          s.samples.delete(t);
          n++;
        }
      }
      return n;
    }
    case "clock":
      throw new Error("clock ops are not modelled in State");
  }
}

/** A deep copy. */
export function cloneState(state: State): State {
  return new Map(
    [...state].map(([k, s]) => [k, { policy: s.policy, samples: new Map(s.samples) }]),
  );
}

/** What a reply compares as. */
export function asExpected(reply: RespReply): Expected | string {
  switch (reply.kind) {
    case "integer":
      return Number(reply.value);
    case "simple":
      return reply.value === "OK" ? "OK" : `+${reply.value}`;
    case "error":
      return "ERR";
    case "array":
      return (reply.value ?? []).map((r) =>
        r.kind === "integer" ? Number(r.value) : r.kind === "error" ? "ERR" : "?"
      ) as (number | "ERR")[];
    default:
      return `unexpected ${reply.kind}`;
  }
}

function valueText(rng: Rng): string {
  // One to three decimals, as sensors send; sums of them are not exact decimals.
  const scale = rng.pick([1, 10, 100, 1000]);
  return String((rng.int(200_000) - 100_000) / scale);
}

/** One client: its series as acknowledged, as sent, and the commands not yet answered. */
export class ClientModel {
  /** State after every acknowledged command. */
  committed: State = new Map();
  /** State after every generated command. */
  projected: State = new Map();
  /** Commands generated and not answered, oldest first. */
  pending: Op[] = [];
  /** The clock keys' acknowledged samples; undefined while one was never created. */
  clocks: Record<ClockKind, Map<number, number> | undefined> = { add: undefined, incr: undefined };
  /** Acknowledged clock commands that landed on the millisecond of the one before (an upsert). */
  sameMs = 0;
  #starSeq = 0;
  #autos = 0;
  readonly #rng: Rng;
  /** The client's name, the prefix of its keys and its `owner` label. */
  readonly owner: string;

  /** Client `index` (named `c<index>`), drawing its commands from `rng`. */
  constructor(readonly index: number, rng: Rng) {
    this.owner = `c${index}`;
    this.#rng = rng;
  }

  /** Keys of the series created with TS.CREATE (one per policy, in turn). */
  get fixedKeys(): string[] {
    return [0, 1, 2].map((j) => `${this.owner}:p${j}`);
  }

  /** The next command, applied to `projected` and queued as pending. */
  next(): Op {
    const op = this.#generate();
    if (op.t === "add" && this.projected.has(op.key)) {
      op.bare = this.#rng.chance(0.5);
      op.lower = this.#rng.chance(0.2);
    }
    if (op.t !== "clock") apply(this.projected, op);
    this.pending.push(op);
    return op;
  }

  #generate(): Op {
    const rng = this.#rng;
    const p = this.projected;
    const missing = this.fixedKeys.find((k) => !p.has(k));
    if (missing !== undefined) {
      const j = Number(missing.at(-1));
      const policy = POLICIES[(j + 3 * this.index) % POLICIES.length]!;
      return { t: "create", key: missing, policy };
    }
    const keys = [...p.keys()].filter((k) => !k.endsWith(":ctr"));
    // Half on the created series, whose policies vary; auto-created ones are BLOCK.
    const key = rng.chance(0.5) ? rng.pick(this.fixedKeys) : rng.pick(keys);
    const s = p.get(key)!;
    const times = [...s.samples.keys()].sort((a, b) => a - b);
    const last = times.at(-1) ?? TS_START;
    const roll = rng.int(100);
    if (roll < 30 || times.length < 3) {
      return { t: "add", key, ts: last + 1 + rng.int(3), value: valueText(rng) };
    }
    if (roll < 42) {
      // The newest again: the one-sample upsert under a non-BLOCK policy.
      const op: Op = { t: "add", key, ts: last, value: valueText(rng) };
      if (rng.chance(0.6)) op.onDup = rng.pick(POLICIES);
      return op;
    }
    if (roll < 52) {
      // Out of order, often into a sealed chunk: a new timestamp or an existing one.
      const ts = rng.chance(0.5)
        ? rng.pick(times)
        : times[0]! + rng.int(Math.max(1, last - times[0]!));
      const op: Op = { t: "add", key, ts, value: valueText(rng) };
      if (rng.chance(0.5)) op.onDup = rng.pick(POLICIES);
      return op;
    }
    if (roll < 60) {
      const samples = Array.from({ length: 2 + rng.int(6) }, () => {
        const k = rng.pick(keys);
        const kt = [...p.get(k)!.samples.keys()];
        const kl = kt.length > 0 ? Math.max(...kt) : TS_START;
        const ts = rng.chance(0.6) ? kl + 1 + rng.int(3) : rng.chance(0.5) ? kl : kl - rng.int(200);
        return { key: k, ts, value: valueText(rng) };
      });
      return { t: "madd", samples };
    }
    if (roll < 72) {
      const ctr = `${this.owner}:ctr`;
      const c = p.get(ctr);
      const ct = c ? Math.max(TS_START, ...c.samples.keys()) : TS_START;
      return {
        t: "incr",
        key: ctr,
        delta: String(rng.int(50) + (rng.chance(0.3) ? 0.25 : 0)),
        sign: rng.chance(0.3) ? -1 : 1,
        ts: ct + (rng.chance(0.3) ? 0 : 1 + rng.int(3)),
      };
    }
    if (roll < 78) return { t: "clock", kind: "add", value: `${this.#starSeq++}.5` };
    if (roll < 82) return { t: "clock", kind: "incr", value: String(1 + rng.int(20)) };
    if (roll < 86 && this.#autos < AUTO_SERIES_MAX) {
      const auto = `${this.owner}:a${this.#autos++}`;
      return { t: "add", key: auto, ts: TS_START + rng.int(1000), value: valueText(rng) };
    }
    if (roll < 90) {
      const from = times[rng.int(times.length)]!;
      return { t: "del", key, from, to: from + rng.int(12) };
    }
    return { t: "add", key, ts: last + 1 + rng.int(3), value: valueText(rng) };
  }

  /**
   * Records the reply to the oldest pending command: applies it to `committed` and returns a
   * description of the difference when the reply is not the one it must be.
   */
  acknowledge(reply: RespReply): string | undefined {
    const op = this.pending.shift()!;
    const got = asExpected(reply);
    if (op.t === "clock") {
      if (typeof got !== "number" || got < 0) {
        return `${this.owner}: ${show(op)} answered ${show(got)}`;
      }
      const samples = this.clocks[op.kind] ??= new Map();
      const value = op.kind === "add" ? Number(op.value) : newestValue(samples) + Number(op.value);
      if (samples.has(got)) this.sameMs++;
      samples.set(got, value);
      return undefined;
    }
    const want = apply(this.committed, op);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      const why = reply.kind === "error" ? ` (${reply.value})` : "";
      return `${this.owner}: ${show(op)} answered ${show(got)}${why}, the model says ${show(want)}`;
    }
    return undefined;
  }

  /**
   * The values the pending commands on clock key `kind` would leave, each with the command's
   * index in `pending`.
   */
  pendingClockValues(kind: ClockKind): Map<number, number> {
    const out = new Map<number, number>();
    let sum = newestValue(this.clocks.incr ?? new Map());
    this.pending.forEach((op, i) => {
      if (op.t !== "clock" || op.kind !== kind) return;
      if (kind === "add") out.set(Number(op.value), i);
      else out.set(sum += Number(op.value), i);
    });
    return out;
  }

  /** The state after the first `p` pending commands. */
  candidate(p: number): State {
    const s = cloneState(this.committed);
    for (const op of this.pending.slice(0, p)) if (op.t !== "clock") apply(s, op);
    return s;
  }

  /** After a restart: `state` (and `clocks`) are what the server holds; nothing is pending. */
  adopt(state: State, clocks: Record<ClockKind, Map<number, number> | undefined>): void {
    this.committed = state;
    this.projected = cloneState(state);
    this.pending = [];
    this.clocks = clocks;
  }
}

/** JSON of anything, for messages. */
export function show(x: unknown): string {
  return JSON.stringify(x);
}
