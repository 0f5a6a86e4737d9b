import { assertEquals } from "@std/assert";
import { deletableSegments } from "../../src/engine/retention.ts";

Deno.test("deletableSegments() keeps segments past flushedSeq, pins and the active one", () => {
  const segments = [
    { id: 1, lastSeq: 100 },
    { id: 2, lastSeq: 200 },
    { id: 3, lastSeq: 300 },
    { id: 4, lastSeq: 0 },
  ];
  assertEquals(deletableSegments(segments, { flushedSeq: 250, activeSegmentId: 4 }), [1, 2]);
  assertEquals(deletableSegments(segments, { flushedSeq: 300, activeSegmentId: 4 }), [1, 2, 3]);
  assertEquals(deletableSegments(segments, { flushedSeq: 300, activeSegmentId: 3 }), [1, 2]);
  assertEquals(
    deletableSegments(segments, { flushedSeq: 300, activeSegmentId: 4, pinnedSeqs: [150] }),
    [1],
  );
  assertEquals(deletableSegments(segments, { flushedSeq: 99, activeSegmentId: 4 }), []);
});
