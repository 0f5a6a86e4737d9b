import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { encodeKeyPath, expectError, type Harness, json, withServer } from "./_helpers.ts";

interface Page {
  items: { key: string; value: string }[];
  cursor: string | null;
}

async function list(h: Harness, query: string): Promise<Page> {
  const body = await json(await h.fetch("/v1/keys?" + query), 200);
  return body as unknown as Page;
}

/** Follows cursors from `query` to the end; returns every key in order and the page count. */
async function listAll(h: Harness, query: string): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor === null ? query : `${query}&cursor=${encodeURIComponent(cursor)}`;
    const page = await list(h, q);
    pages++;
    keys.push(...page.items.map((i) => i.key));
    cursor = page.cursor;
    assert(pages < 1000, "paging does not end");
  } while (cursor !== null);
  return { keys, pages };
}

async function seed(h: Harness): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < 57; i++) keys.push(`user:${String(i).padStart(3, "0")}`);
  keys.push("a", "b", "userx", "user", "zzz");
  await h.db.write(keys.map((key) => ({ type: "put" as const, key, value: `v-${key}` })));
  return keys.sort();
}

Deno.test("GET /v1/keys lists every key in byte order with values", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    const page = await list(h, "limit=10000");
    assertEquals(page.items.map((i) => i.key), keys);
    assertEquals(page.items[0], { key: "a", value: "v-a" });
    assertEquals(page.cursor, null);
    // Default limit is 100: 62 keys fit one page.
    assertEquals((await list(h, "")).items.length, keys.length);
  });
});

Deno.test("GET /v1/keys pages with cursors: complete, in order, no duplicates", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    for (const limit of [1, 2, 7, 61, 62, 63]) {
      const { keys: got, pages } = await listAll(h, `limit=${limit}`);
      assertEquals(got, keys, `limit ${limit}`);
      assertEquals(pages, Math.max(1, Math.ceil(keys.length / limit)), `pages at limit ${limit}`);
    }
  });
});

Deno.test("GET /v1/keys?prefix= pages within the prefix only", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    const expected = keys.filter((k) => k.startsWith("user:"));
    assertEquals(expected.length, 57);
    const { keys: got } = await listAll(h, "prefix=user:&limit=10");
    assertEquals(got, expected);
    const { keys: rev } = await listAll(h, "prefix=user:&limit=10&reverse=true");
    assertEquals(rev, [...expected].reverse());
  });
});

Deno.test("GET /v1/keys?start=&end= lists [start, end), also reversed and paged", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    const expected = keys.filter((k) => k >= "user:010" && k < "user:020");
    assertEquals(expected.length, 10);
    assertEquals((await list(h, "start=user:010&end=user:020")).items.map((i) => i.key), expected);
    const { keys: fwd } = await listAll(h, "start=user:010&end=user:020&limit=3");
    assertEquals(fwd, expected);
    const { keys: rev } = await listAll(h, "start=user:010&end=user:020&limit=3&reverse=1");
    assertEquals(rev, [...expected].reverse());
    // start and end together with a prefix: the intersection.
    assertEquals(
      (await list(h, "prefix=user:0&start=user:055")).items.map((i) => i.key),
      ["user:055", "user:056"],
    );
    // An empty range.
    assertEquals(await list(h, "start=m&end=c"), { items: [], cursor: null });
  });
});

Deno.test("GET /v1/keys?reverse=true lists in descending order", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    const page = await list(h, "reverse=true&limit=5");
    assertEquals(page.items.map((i) => i.key), [...keys].reverse().slice(0, 5));
    assertNotEquals(page.cursor, null);
    const { keys: all } = await listAll(h, "reverse=true&limit=4");
    assertEquals(all, [...keys].reverse());
  });
});

Deno.test("GET /v1/keys?encoding=base64 encodes binary keys and values", async () => {
  await withServer(async (h) => {
    const k1 = new Uint8Array([0x00, 0xff]);
    const k2 = new Uint8Array([0x00, 0xff, 0x10]);
    const k3 = new Uint8Array([0x01]);
    const value = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
    await h.db.write([k1, k2, k3].map((key) => ({ type: "put" as const, key, value })));
    // The binary prefix is percent-encoded in the query.
    const page = await list(h, `prefix=${encodeKeyPath(k1)}&encoding=base64`);
    assertEquals(page.items, [
      { key: k1.toBase64(), value: value.toBase64() },
      { key: k2.toBase64(), value: value.toBase64() },
    ]);
    // Paging over binary keys.
    const { keys } = await listAll(h, "encoding=base64&limit=1");
    assertEquals(keys, [k1, k2, k3].map((k) => k.toBase64()));
  });
});

Deno.test("GET /v1/keys pages past the empty key and high keys, never into internal 0xff keys", async () => {
  await withServer(async (h) => {
    const keys = [
      new Uint8Array(0),
      new Uint8Array([0]),
      new Uint8Array([0xfe]),
      new Uint8Array([0xfe, 0xff]),
    ];
    // Keys starting with 0xff hold internal data (ARCHITECTURE.md § "Keyspace"): never listed.
    const internal = [new Uint8Array([0xff]), new Uint8Array([0xff, 0xff])];
    await h.db.write(
      [...keys, ...internal].map((key) => ({ type: "put" as const, key, value: "v" })),
    );
    const { keys: got } = await listAll(h, "encoding=base64&limit=1");
    assertEquals(got, keys.map((k) => k.toBase64()));
    const { keys: rev } = await listAll(h, "encoding=base64&limit=1&reverse=true");
    assertEquals(rev, keys.map((k) => k.toBase64()).reverse());
    const { keys: fe } = await listAll(h, "encoding=base64&limit=1&prefix=%FE");
    assertEquals(fe, keys.slice(2).map((k) => k.toBase64()));
    const { keys: ff } = await listAll(h, "encoding=base64&limit=1&prefix=%FF");
    assertEquals(ff, []);
  });
});

Deno.test("GET /v1/keys does not list deleted or expired keys", async () => {
  await withServer(async (h) => {
    await h.db.write([
      { type: "put", key: "a", value: "1" },
      { type: "put", key: "b", value: "2", expireAtMs: Date.now() - 1 },
      { type: "put", key: "c", value: "3" },
    ]);
    await h.db.delete("c");
    assertEquals((await list(h, "")).items, [{ key: "a", value: "1" }]);
  });
});

Deno.test("GET /v1/keys answers 400 for bad parameters", async () => {
  await withServer(async (h) => {
    await expectError(await h.fetch("/v1/keys?limit=0"), 400, "from 1 to 10000");
    await expectError(await h.fetch("/v1/keys?limit=10001"), 400, "from 1 to 10000");
    await expectError(await h.fetch("/v1/keys?limit=ten"), 400, "limit");
    await expectError(await h.fetch("/v1/keys?reverse=maybe"), 400, "reverse");
    await expectError(await h.fetch("/v1/keys?encoding=hex"), 400, "encoding");
    await expectError(await h.fetch("/v1/keys?cursor=zzz"), 400, "cursor");
    await expectError(await h.fetch("/v1/keys?cursor=k!!!"), 400, "cursor");
    await expectError(await h.fetch("/v1/keys?prefix=%G0"), 400, "percent-encoding");
  });
});

Deno.test("GET /v1/keys paging sees every key that exists throughout, across SSTables and writes", async () => {
  await withServer(async (h) => {
    const keys = await seed(h);
    await h.db.flush();
    await h.db.write([{ type: "put", key: "user:0005", value: "memtable" }]);
    const all = [...keys, "user:0005"].sort();
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const q: string = cursor === null
        ? "limit=5"
        : `limit=5&cursor=${encodeURIComponent(cursor)}`;
      const page = await list(h, q);
      seen.push(...page.items.map((i) => i.key));
      cursor = page.cursor;
      // Writes between pages, behind the cursor and far ahead of it.
      await h.db.write([
        { type: "put", key: `a-behind-${round}`, value: "x" },
        { type: "put", key: `zzzz-ahead-${round}`, value: "x" },
      ]);
      round++;
    } while (cursor !== null);
    assertEquals(new Set(seen).size, seen.length, "no duplicates");
    for (const k of all) assert(seen.includes(k), `missing ${k}`);
    for (let i = 1; i < seen.length; i++) assert(seen[i - 1]! < seen[i]!, "ascending");
  });
});

Deno.test("GET /v1/keys stops a page at HTTP_LIST_RESPONSE_BYTES_MAX and returns a cursor", async () => {
  await withServer(async (h) => {
    const value = new Uint8Array(16 * 1024 * 1024).fill(0x61);
    for (const key of ["a", "b", "c", "d", "e"]) await h.db.put(key, value);
    const { keys, pages } = await listAll(h, "limit=10");
    assertEquals(keys, ["a", "b", "c", "d", "e"]);
    assert(pages >= 2, `pages ${pages}`);
  }, { db: { syncMode: "none" } });
});
