/** The time-series HTTP routes: list, info, samples (JSON and CSV), POST, DELETE, and their
 * errors (same shapes as the key routes). */

import { assertEquals } from "@std/assert";
import { withServer } from "../http/_helpers.ts";

async function json(res: Response): Promise<unknown> {
  return await res.json();
}

function post(body: unknown): RequestInit {
  return {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  };
}

Deno.test("POST and GET /v1/series/{key}/samples, info and list", async () => {
  await withServer(async (h) => {
    let res = await h.fetch(
      "/v1/series/line1.temp/samples",
      post({
        samples: [[1000, 21.5], [2000, 21.75], [61000, 22]],
        labels: { line: "1", kind: "temp" },
        retention_ms: 86_400_000,
      }),
    );
    assertEquals(res.status, 200);
    assertEquals(await json(res), { added: 3, errors: [] });
    res = await h.fetch(
      "/v1/series/line2.temp/samples",
      post({ samples: [[1000, 19]], labels: { line: "2", kind: "temp" } }),
    );
    assertEquals(res.status, 200);
    await res.body?.cancel();
    assertEquals(await json(await h.fetch("/v1/series/line1.temp/samples")), {
      key: "line1.temp",
      samples: [[1000, 21.5], [2000, 21.75], [61000, 22]],
    });
    assertEquals(
      await json(
        await h.fetch(
          "/v1/series/line1.temp/samples?from=0&to=100000&aggregation=avg&bucket_ms=60000",
        ),
      ),
      { key: "line1.temp", samples: [[0, 21.625], [60000, 22]] },
    );
    const csv = await h.fetch("/v1/series/line1.temp/samples?count=2", {
      headers: { accept: "text/csv" },
    });
    assertEquals(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    assertEquals(await csv.text(), "timestamp,value\n1000,21.5\n2000,21.75\n");
    const info = await json(await h.fetch("/v1/series/line1.temp")) as Record<string, unknown>;
    assertEquals(info.totalSamples, 3);
    assertEquals(info.retentionMs, 86_400_000);
    assertEquals(info.labels, { line: "1", kind: "temp" });
    assertEquals(await json(await h.fetch("/v1/series?filter=kind%3Dtemp+line%21%3D2")), {
      series: [{ key: "line1.temp", labels: { line: "1", kind: "temp" } }],
      truncated: false,
    });
    assertEquals(
      ((await json(await h.fetch("/v1/series"))) as { series: unknown[] }).series.length,
      2,
    );
    assertEquals(
      ((await json(await h.fetch("/v1/series?filter=line%3D~%5B12%5D&limit=1"))) as {
        truncated: boolean;
      }).truncated,
      true,
    );
    res = await h.fetch("/v1/series/line1.temp/samples?from=0&to=1500", { method: "DELETE" });
    assertEquals(await json(res), { deleted: 1 });
    // Duplicates under the default BLOCK policy are per-sample errors.
    res = await h.fetch("/v1/series/line1.temp/samples", post({ samples: [[2000, 1], [3000, 2]] }));
    assertEquals(await json(res), {
      added: 1,
      errors: [{
        index: 0,
        error:
          "Error at upsert, update is not supported when DUPLICATE_POLICY is set to BLOCK mode",
      }],
    });
    // The key routes see a series as another type.
    res = await h.fetch("/v1/keys/line1.temp");
    assertEquals(res.status, 409);
    await res.body?.cancel();
  });
});

Deno.test("Series routes refuse bad input with the key routes' error shapes", async () => {
  await withServer(async (h) => {
    await h.db.put("plain", "v");
    const cases: [string, RequestInit | undefined, number, string][] = [
      ["/v1/series/missing", undefined, 404, "Series not found"],
      ["/v1/series/missing/samples", undefined, 404, "Series not found"],
      ["/v1/series/plain", undefined, 409, "Key holds another type, not a time series"],
      [
        "/v1/series/x/samples",
        post({ samples: [[1, "a"]] }),
        400,
        "Invalid sample 0: value must be a finite number",
      ],
      [
        "/v1/series/x/samples",
        post({ samples: [[-1, 1]] }),
        400,
        'Invalid sample 0: timestamp must be a non-negative integer (ms) or "*"',
      ],
      ["/v1/series/x/samples", post({ sample: [] }), 400, 'Invalid body: unknown field "sample"'],
      [
        "/v1/series/x/samples",
        post({ samples: [[1, 1]], labels: { a: 1 } }),
        400,
        "Invalid body: labels must be an object of non-empty strings",
      ],
      [
        "/v1/series/plain/samples",
        post({ samples: [[1, 1]] }),
        409,
        "Key holds another type, not a time series",
      ],
      [
        "/v1/series?filter=a%21%3Db",
        undefined,
        400,
        "Invalid filter: please provide at least one matcher",
      ],
      [
        "/v1/series/x/samples?aggregation=median&bucket_ms=1",
        undefined,
        400,
        "Invalid query parameter aggregation: median (one of avg, sum, min, max, range, count, first, last, std.p, std.s, var.p, var.s, twa)",
      ],
      [
        "/v1/series/%FFx",
        undefined,
        400,
        "Invalid key: keys starting with byte 0xff are reserved for CityHall's internal data",
      ],
      [
        "/v1/series/x/samples",
        { method: "PUT" },
        405,
        "Method not allowed: PUT (allowed: GET, POST, DELETE)",
      ],
    ];
    for (const [path, init, status, error] of cases) {
      const res = await h.fetch(path, init);
      assertEquals(res.status, status, path);
      assertEquals(await json(res), { error }, path);
    }
    const big = { samples: Array.from({ length: 10_001 }, (_, i) => [i, 1]) };
    const res = await h.fetch("/v1/series/x/samples", post(big));
    assertEquals(res.status, 413);
    assertEquals(await json(res), { error: "Too many samples: 10001 (limit 10000)" });
    assertEquals((await h.fetch("/v1/series/x")).status, 404);
  });
});
