/**
 * Hashes, lists, sets and sorted sets written at an edge reach the hub as `S/k` (members under
 * the hub's own versions, ARCHITECTURE.md § "Member types at the hub"): real edge and hub
 * processes; the hub answers HGETALL / LRANGE / SMEMBERS / ZRANGE exactly as the edge does,
 * through deletes, overwrites by another type, renames, expiry and a SIGKILL of the hub in the
 * middle of a catch-up.
 */

import { assert, assertEquals } from "@std/assert";
import { RespClient, type RespReply } from "../../src/cli/resp_client.ts";
import { freePort } from "../cli/_helpers.ts";
import { eventually, removeDir } from "./_helpers.ts";
import { addSiteCli, type FleetProcess, spawnEdge, spawnHub } from "./_procs.ts";

const text = new TextDecoder();

function flat(r: RespReply): unknown {
  switch (r.kind) {
    case "bulk":
      return r.value === null ? null : text.decode(r.value);
    case "array":
      return r.value === null ? null : r.value.map(flat);
    case "integer":
      return Number(r.value);
    default:
      return r.kind === "error" ? `ERR:${r.value}` : r.value;
  }
}

async function run(port: number, commands: string[][]): Promise<unknown[]> {
  const client = await RespClient.connect({ hostname: "127.0.0.1", port });
  try {
    const out: unknown[] = [];
    for (let i = 0; i < commands.length; i += 500) {
      const replies = await client.pipeline(commands.slice(i, i + 500));
      out.push(...replies.map(flat));
    }
    return out;
  } finally {
    client.close();
  }
}

/** Every key under `prefix` with its type and content, as the server answers them. */
async function dump(port: number, prefix: string): Promise<Map<string, string>> {
  const [keys] = await run(port, [["KEYS", `${prefix}*`]]) as [string[]];
  const names = keys.map((k) => k.slice(prefix.length)).sort();
  const types = await run(port, names.map((k) => ["TYPE", prefix + k])) as string[];
  const reads = names.map((k, i) => {
    const key = prefix + k;
    switch (types[i]) {
      case "hash":
        return ["HGETALL", key];
      case "list":
        return ["LRANGE", key, "0", "-1"];
      case "set":
        return ["SMEMBERS", key];
      case "zset":
        return ["ZRANGE", key, "0", "-1", "WITHSCORES"];
      default:
        return ["GET", key];
    }
  });
  const values = await run(port, reads);
  const out = new Map<string, string>();
  names.forEach((k, i) => {
    let v = values[i];
    if (types[i] === "hash") {
      const a = v as string[];
      const pairs: string[] = [];
      for (let j = 0; j < a.length; j += 2) pairs.push(`${a[j]}=${a[j + 1]}`);
      v = pairs.sort();
    } else if (types[i] === "set") v = (v as string[]).sort();
    out.set(k, `${types[i]} ${JSON.stringify(v)}`);
  });
  return out;
}

async function expectSame(edge: FleetProcess, hub: FleetProcess, site: string, what: string) {
  let last = "";
  try {
    await eventually(async () => {
      const [e, h] = await Promise.all([dump(edge.port, ""), dump(hub.port, `${site}/`)]);
      last = `edge ${JSON.stringify([...e])}\nhub  ${JSON.stringify([...h])}`;
      return JSON.stringify([...e]) === JSON.stringify([...h]);
    }, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${last.slice(0, 4000)}\n${hub.log().slice(-3000)}`);
  }
}

async function ok(port: number, commands: string[][]): Promise<void> {
  const replies = await run(port, commands);
  for (const [i, r] of replies.entries()) {
    if (typeof r === "string" && r.startsWith("ERR:")) {
      throw new Error(`${commands[i]!.join(" ")}: ${r}`);
    }
  }
}

Deno.test("fleet: an edge's hashes, lists, sets and sorted sets arrive at the hub as S/k, through deletes, overwrites, renames and expiry", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-types-" });
  const syncPort = freePort();
  const tokenFile = await addSiteCli(`${root}/hub`, "clinic", root);
  const hub = await spawnHub(`${root}/hub`, syncPort);
  const edge = await spawnEdge(`${root}/edge`, syncPort, "clinic", tokenFile);
  try {
    const bigHash = ["HSET", "big"];
    for (let i = 0; i < 1500; i++) bigHash.push(`f${i}`, `value-${i}`);
    await ok(edge.port, [
      ["HSET", "beds", "a", "1", "b", "2", "c", "3"],
      ["HDEL", "beds", "b"],
      ["RPUSH", "queue", "x", "y", "z"],
      ["LPUSH", "queue", "w"],
      ["LPOP", "queue"],
      ["LSET", "queue", "1", "Y"],
      ["SADD", "staff", "ann", "bob", "cy"],
      ["SREM", "staff", "bob"],
      ["ZADD", "load", "1", "a", "2", "b", "3.5", "c"],
      ["ZREM", "load", "b"],
      ["ZINCRBY", "load", "10", "a"],
      ["HSET", "gone", "f", "v"],
      ["DEL", "gone"],
      ["HSET", "over", "f", "v"],
      ["SET", "over", "now a string"],
      ["SADD", "retyped", "m"],
      ["DEL", "retyped"],
      ["ZADD", "retyped", "7", "seven"],
      ["RPUSH", "moved", "a", "b"],
      ["RENAME", "moved", "moved2"],
      ["SADD", "emptied", "only"],
      ["SREM", "emptied", "only"],
      ["SET", "ward", "east"],
      bigHash,
      ["HDEL", "big", "f7", "f1000"],
    ]);
    await expectSame(edge, hub, "clinic", "the member types at the hub");
    assertEquals((await dump(hub.port, "clinic/")).get("big")?.length! > 1000, true);

    // Lists the hub has just read (and may answer from its LRANGE range cache) change at the
    // edge: the hub answers the new items, never the range it read before.
    await ok(edge.port, [
      ["LSET", "queue", "0", "X"],
      ["LPOP", "queue"],
      ["LPUSH", "queue", "new-head"],
      ["LINSERT", "queue", "AFTER", "new-head", "second"],
      ["LREM", "queue", "0", "z"],
      ["RPUSH", "moved2", "c"],
      ["LTRIM", "moved2", "1", "-1"],
    ]);
    await expectSame(edge, hub, "clinic", "the lists changed after the hub read them");
    // The same range, one item changed: only the record's new sequence tells them apart.
    await ok(edge.port, [["LSET", "queue", "-1", "last"]]);
    await eventually(async () => {
      const [items] = await run(hub.port, [["LRANGE", "clinic/queue", "0", "-1"]]);
      return JSON.stringify(items) === JSON.stringify(["new-head", "second", "last"]);
    }, "the hub's list after LSET of an item it read");

    // Expiry at the edge (the key's metadata carries it) and a type over an expired key.
    await ok(edge.port, [
      ["HSET", "soon", "f", "v"],
      ["PEXPIRE", "soon", "1500"],
      ["SADD", "later", "a"],
      ["EXPIRE", "later", "3600"],
    ]);
    await expectSame(edge, hub, "clinic", "the expiring keys at the hub");
    const [ttl] = await run(hub.port, [["TTL", "clinic/later"]]) as number[];
    assert(ttl! > 3000 && ttl! <= 3600, `TTL at the hub: ${ttl}`);
    await eventually(async () => {
      const [edgeType, hubType] = [
        (await run(edge.port, [["TYPE", "soon"]]))[0],
        (await run(hub.port, [["TYPE", "clinic/soon"]]))[0],
      ];
      return edgeType === "none" && hubType === "none";
    }, "the expired hash gone at the edge and at the hub");
    await ok(edge.port, [["RPUSH", "soon", "reborn"]]);
    await expectSame(edge, hub, "clinic", "a list where the expired hash was");
    assert(!/left out/.test(hub.log()), hub.log());
    // Hub clients cannot write into the site's namespace, member types included.
    const refused = await run(hub.port, [["HSET", "clinic/beds", "z", "1"], [
      "SADD",
      "clinic/new",
      "m",
    ]]);
    for (const r of refused) assert(String(r).startsWith("ERR:"), String(r));
    await expectSame(edge, hub, "clinic", "nothing changed by the refused writes");
  } finally {
    await edge.stop();
    await hub.stop();
    await removeDir(root);
  }
});

Deno.test("fleet: member types survive a SIGKILL of the hub in the middle of a catch-up", async () => {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fleet-types-kill-" });
  const syncPort = freePort();
  const tokenFile = await addSiteCli(`${root}/hub`, "store1", root);
  // The link is slow (16 KiB/s) so the catch-up lasts long enough to be cut by the kill.
  const edge = await spawnEdge(`${root}/edge`, syncPort, "store1", tokenFile, [
    "--uplink-rate-limit",
    "16KiB",
  ]);
  let hub: FleetProcess | undefined;
  try {
    const commands: string[][] = [];
    for (let i = 0; i < 200; i++) {
      const hset = ["HSET", `h${i}`];
      for (let j = 0; j < 20; j++) hset.push(`field${j}`, `${(i * 7919 + j * 104729) % 1000003}`);
      commands.push(hset);
      commands.push(["RPUSH", `l${i}`, `${i}`, `${i * 31}`, `${i * 977}`]);
      commands.push(["ZADD", `z${i}`, `${i}`, `m${i}`, `${i / 3}`, `n${i}`]);
      commands.push(["SADD", `s${i}`, `a${i}`, `b${i * 13}`]);
      if (i % 10 === 0) commands.push(["DEL", `h${i}`]);
      if (i % 10 === 1) commands.push(["SET", `l${i}`, "string now"]);
      if (i % 10 === 2) commands.push(["HDEL", `h${i}`, "field3", "field4"]);
    }
    await ok(edge.port, commands);

    hub = await spawnHub(`${root}/hub`, syncPort);
    await eventually(async () => {
      const [n] = await run(hub!.port, [["DBSIZE"]]) as number[];
      return n! > 0;
    }, "the catch-up under way");
    const [before] = await run(hub.port, [["DBSIZE"]]) as number[];
    await hub.stop("SIGKILL");
    console.log(`hub keys at the kill: ${before} of 780`);
    assert(before! < 780, `the hub had caught up before the kill (${before} keys)`);
    hub = await spawnHub(`${root}/hub`, syncPort);
    await expectSame(edge, hub, "store1", "the site's member types after the hub's SIGKILL");
  } finally {
    await edge.stop();
    await hub?.stop();
    await removeDir(root);
  }
});
