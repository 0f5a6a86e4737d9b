/**
 * redis-py's `r.ts()` (Debian's python3-redis 4.3.4, run with /usr/bin/python3) against a
 * CityHall server: every TimeSeriesCommands method a user reaches for, with its reply parsers
 * (TSInfo, parse_range, parse_m_range, parse_m_get). The script asserts; this test checks that
 * it printed "ok".
 */

import { assertEquals } from "@std/assert";
import { startTestServer } from "../server/_helpers.ts";
import { runChild } from "../_helpers/child.ts";

const SCRIPT = new URL("./redis_py_ts.py", import.meta.url).pathname;

Deno.test("redis-py's r.ts() API works against CityHall", async () => {
  const s = await startTestServer();
  try {
    const out = await runChild("/usr/bin/python3", [SCRIPT, String(s.port)]);
    const stderr = out.stderr;
    assertEquals(out.stdout.trim(), "ok", stderr);
    assertEquals(out.code, 0, stderr);
  } finally {
    await s.close();
  }
});
