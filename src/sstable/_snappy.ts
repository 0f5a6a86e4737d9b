/**
 * The SSTable reader's and writer's Snappy: the validating functions of `src/util/snappy.ts`
 * (every decompression in CityHall checks its input first; ARCHITECTURE.md § "Snappy
 * validation"). `snappyUncompress` throws `CorruptionError` on any malformed block.
 *
 * @module
 */

export { snappyCompress, snappyUncompress, snappyUncompressedLength } from "../util/snappy.ts";
