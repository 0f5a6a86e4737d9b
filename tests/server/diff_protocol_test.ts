/**
 * The malformed RESP frames of the protocol differential fuzzer (tests/_helpers/resp_proto_diff.ts)
 * sent to this server and to a real redis-server 7.0 on fresh connections: where Redis answers or
 * closes, this server must answer the same bytes and close the same way. Left out: frames Redis
 * leaves unanswered (a NUL byte before a line's end makes it wait for more), and CityHall's own
 * limits (RESP_ARGS_MAX arguments, 64 KiB inline lines), which refuse what Redis accepts.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { exchange, TEMPLATES } from "../_helpers/resp_proto_diff.ts";
import { latin1Bytes } from "../_helpers/resp_client.ts";
import { RESP_ARGS_MAX } from "../../src/limits.ts";
import { startTestServer } from "./_helpers.ts";
import { startRedisServer } from "./_redis.ts";

/** Over one of CityHall's limits: a count above RESP_ARGS_MAX, or an inline line over 64 KiB. */
function overOurLimits(frame: string): boolean {
  const count = /^\*(\d+)\r\n/.exec(frame);
  if (count !== null && Number(count[1]) > RESP_ARGS_MAX) return true;
  return frame.length > 65536 && !frame.startsWith("*");
}

Deno.test("malformed RESP frames: the same answer and close as redis-server, byte for byte", async () => {
  const t = await startTestServer();
  const redis = await startRedisServer();
  let compared = 0;
  try {
    for (const frame of TEMPLATES) {
      if (overOurLimits(frame)) continue;
      const bytes = latin1Bytes(frame);
      const theirs = await exchange(redis.port, bytes, 400);
      // Redis still waiting inside the frame (a timing, not an answer): nothing to compare.
      if (!theirs.closed && !theirs.text.endsWith("<end>")) continue;
      const ours = await exchange(t.port, bytes, 30_000);
      assertEquals(ours, theirs, JSON.stringify(frame));
      compared++;
    }
  } finally {
    await redis.stop();
    await t.close();
  }
  console.log(`${compared} of ${TEMPLATES.length} frames compared`);
});
