/**
 * `cityhall ts add|range|info|list`: time series from the command line, through a running
 * server's TS.* commands (ARCHITECTURE.md § "Time-series command line").
 *
 * Exit codes: 0 success, 1 an error reply or no server, 2 usage error.
 *
 * @module
 */

import { intFlag, type ParsedArgs, parseFlags, UsageError } from "./_args.ts";
import { HOST_DEFAULT, RESP_PORT_DEFAULT } from "./_common.ts";
import { connectFailure, targetOf } from "./client.ts";
import { printErr, printJson, printOut } from "./_output.ts";
import { ServerReplyError } from "./_remote.ts";
import { ConnectionClosedError, RespClient, type RespReply } from "./resp_client.ts";

/** Help of `cityhall ts`. */
export const TS_HELP = `Usage: cityhall ts <command> [options]

Time series through the server at --host/--port (its TS.* commands).

Commands:
  add KEY TIMESTAMP VALUE   Add a sample (TIMESTAMP in ms, or * for now); creates the series
                            with --labels name=value,… and --retention-ms N when missing
  range KEY [FROM [TO]]     Print "timestamp<TAB>value" lines (FROM/TO in ms, - and + by
                            default); --aggregation avg|sum|min|max|… --bucket-ms N, --count N
  info KEY                  Print the series' TS.INFO
  list [FILTER…]            Print "key<TAB>labels<TAB>newest sample" for the series matching
                            filters like room=kitchen type=(temp,hum) name=~sensor.* (all
                            series when none is given)

Options:
  --host H              Server address (default ${HOST_DEFAULT})
  --port P              RESP port (default ${RESP_PORT_DEFAULT})
  --auth-token-file F   Token file (default: CITYHALL_AUTH_TOKEN)
  --tls-ca F            Connect with TLS, trusting the CA certificate (PEM) in F
  --json                Print JSON
`;

const FLAGS = {
  string: [
    "host",
    "port",
    "auth-token-file",
    "labels",
    "retention-ms",
    "aggregation",
    "bucket-ms",
    "count",
  ],
  boolean: ["json"],
};

const decoder = new TextDecoder();

function text(r: RespReply | undefined): string {
  if (r === undefined) return "";
  if (r.kind === "bulk") return r.value === null ? "" : decoder.decode(r.value);
  if (r.kind === "simple" || r.kind === "error") return r.value;
  if (r.kind === "integer") return String(r.value);
  return "";
}

function items(r: RespReply | undefined): RespReply[] {
  return r?.kind === "array" && r.value !== null ? r.value : [];
}

function ok(r: RespReply): RespReply {
  if (r.kind === "error") throw new ServerReplyError(r.value);
  return r;
}

/** Label pairs of a reply as an object. */
function labels(r: RespReply | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of items(r)) {
    const [k, v] = items(pair);
    out[text(k)] = text(v);
  }
  return out;
}

function sample(r: RespReply | undefined): [number, number] | null {
  const [t, v] = items(r);
  return t === undefined ? null : [Number(text(t)), Number(text(v))];
}

function want(parsed: ParsedArgs, min: number, max: number, usage: string): void {
  const n = parsed.positionals.length - 1;
  if (n < min || n > max) throw new UsageError("ts", `usage: cityhall ts ${usage}`);
}

/** `cityhall ts …`; returns the exit code. */
export async function tsCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("ts", args, FLAGS);
  if (parsed.booleans.has("help") || parsed.positionals.length === 0) {
    printOut(TS_HELP);
    return parsed.booleans.has("help") ? 0 : 2;
  }
  const [sub, ...rest] = parsed.positionals;
  const json = parsed.booleans.has("json");
  let command: string[];
  switch (sub) {
    case "add": {
      want(parsed, 3, 3, "add KEY TIMESTAMP VALUE [--labels a=b,…] [--retention-ms N]");
      command = ["TS.ADD", ...rest];
      const retention = intFlag("ts", parsed, "retention-ms", {
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
      });
      if (retention !== undefined) command.push("RETENTION", String(retention));
      const l = parsed.strings.get("labels");
      if (l !== undefined) {
        command.push("LABELS");
        for (const pair of l.split(",").filter((p) => p !== "")) {
          const eq = pair.indexOf("=");
          if (eq <= 0) throw new UsageError("ts", `--labels takes name=value pairs, not '${pair}'`);
          command.push(pair.slice(0, eq), pair.slice(eq + 1));
        }
      }
      break;
    }
    case "range": {
      want(parsed, 1, 3, "range KEY [FROM [TO]] [--aggregation AGG --bucket-ms N] [--count N]");
      command = ["TS.RANGE", rest[0]!, rest[1] ?? "-", rest[2] ?? "+"];
      const count = intFlag("ts", parsed, "count", { min: 1, max: Number.MAX_SAFE_INTEGER });
      if (count !== undefined) command.push("COUNT", String(count));
      const agg = parsed.strings.get("aggregation");
      const bucket = intFlag("ts", parsed, "bucket-ms", { min: 1, max: Number.MAX_SAFE_INTEGER });
      if ((agg === undefined) !== (bucket === undefined)) {
        throw new UsageError("ts", "--aggregation and --bucket-ms go together");
      }
      if (agg !== undefined) command.push("AGGREGATION", agg, String(bucket));
      break;
    }
    case "info":
      want(parsed, 1, 1, "info KEY");
      command = ["TS.INFO", rest[0]!];
      break;
    case "list":
      command = rest.length > 0 ? ["TS.MGET", "WITHLABELS", "FILTER", ...rest] : [];
      break;
    default:
      throw new UsageError("ts", `unknown ts command '${sub}'`);
  }
  const target = await targetOf("ts", parsed);
  let client: RespClient;
  try {
    client = await RespClient.connect(target);
  } catch (err) {
    printErr(`cityhall: ${connectFailure(err, target)}`);
    return 1;
  }
  try {
    const reply = sub === "list" && command.length === 0
      ? await listAll(client)
      : ok(await client.command(command));
    print(sub!, rest, reply, json);
    return 0;
  } catch (err) {
    if (err instanceof ServerReplyError || err instanceof ConnectionClosedError) {
      printErr(`cityhall: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    client.close();
  }
}

/**
 * Every series as TS.MGET WITHLABELS would list it: the keys SCAN … TYPE tsdb-type finds, each
 * with its TS.INFO labels and TS.GET sample (RedisTimeSeries filters need a `label=value`
 * matcher, so there is no filter every series passes).
 */
async function listAll(client: RespClient): Promise<RespReply> {
  const keys: RespReply[] = [];
  let cursor = "0";
  do {
    const r = ok(await client.command(["SCAN", cursor, "TYPE", "tsdb-type", "COUNT", "1000"]));
    const [next, page] = items(r);
    cursor = text(next);
    keys.push(...items(page));
  } while (cursor !== "0");
  const rows: RespReply[] = [];
  for (const key of keys) {
    const name = text(key);
    const info = await client.command(["TS.INFO", name]);
    if (info.kind === "error") continue; // deleted since the scan
    const fields = items(info);
    let labelsReply: RespReply = { kind: "array", value: [] };
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (text(fields[i]) === "labels") labelsReply = fields[i + 1]!;
    }
    const last = await client.command(["TS.GET", name]);
    rows.push({
      kind: "array",
      value: [key, labelsReply, last.kind === "error" ? { kind: "array", value: [] } : last],
    });
  }
  rows.sort((a, b) => text(items(a)[0]) < text(items(b)[0]) ? -1 : 1);
  return { kind: "array", value: rows };
}

function print(sub: string, rest: string[], reply: RespReply, json: boolean): void {
  if (sub === "add") {
    if (json) printJson({ key: rest[0], timestamp: Number(text(reply)) });
    else printOut(text(reply));
    return;
  }
  if (sub === "range") {
    const samples = items(reply).map(sample).filter((s) => s !== null);
    if (json) printJson({ key: rest[0], samples });
    else for (const [t, v] of samples) printOut(`${t}\t${v}`);
    return;
  }
  if (sub === "info") {
    const fields = items(reply);
    const obj: Record<string, unknown> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = text(fields[i]);
      const v = fields[i + 1]!;
      obj[name] = name === "labels"
        ? labels(v)
        : name === "rules"
        ? items(v).map((r) => items(r).map(text))
        : v.kind === "integer"
        ? Number(v.value)
        : v.kind === "bulk" && v.value === null
        ? null
        : text(v);
    }
    if (json) printJson(obj);
    else {
      for (const [k, v] of Object.entries(obj)) {
        printOut(`${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : v}`);
      }
    }
    return;
  }
  // list: [key, labels, sample] per series
  const rows = items(reply).map((r) => {
    const [k, l, s] = items(r);
    return { key: text(k), labels: labels(l), last: sample(s) };
  });
  if (json) printJson(rows);
  else {
    for (const r of rows) {
      const l = Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(",");
      printOut(`${r.key}\t${l}\t${r.last === null ? "" : `${r.last[0]} ${r.last[1]}`}`);
    }
  }
}
