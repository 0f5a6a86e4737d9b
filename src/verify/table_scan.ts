/**
 * `scanTable`: reads one SSTable part by part without trusting any part, for `verify` and
 * `salvage` (ARCHITECTURE.md § "Verify and salvage"). Unlike `Table.open`, which refuses a
 * table at its first bad byte, it reports every damaged part and keeps going:
 *
 * 1. footer (magic, CRC, version, layout); then the properties, filter and index blocks;
 * 2. the data blocks: from the index when it checks, otherwise by chaining block trailers
 *    from offset 0 (`_block_chain.ts`), and when the footer is damaged too, the properties
 *    block is recognised among the chained blocks and gives the end of the data;
 * 3. every data block completely (`checkDataBlock`), keys ascending across blocks;
 * 4. when every part checks, the invariants between them: the properties' counts, sequences
 *    and key range equal the data's, index separators bound their blocks, every key passes
 *    the bloom filter;
 * 5. the values a higher layer can decode (`ValueCheck`: time-series chunks), in every data
 *    block that checks: each damaged one is a finding with its block's offset and its key.
 *
 * A damaged data block loses only its own entries; the findings name its offset, size and,
 * from the index, the keys it may have held.
 *
 * @module
 */

import { CorruptionError } from "../errors.ts";
import { type FileSystem, readWholeFile } from "../fs/mod.ts";
import { SALVAGE_TABLE_SIZE_BYTES_MAX } from "../limits.ts";
import {
  BLOCK_TRAILER_SIZE_BYTES,
  type BlockHandle,
  type BloomFilter,
  decodeFooter,
  type Footer,
  FOOTER_SIZE_BYTES,
  TABLE_MAGIC,
  type TableProperties,
  type TableStats,
} from "../sstable/mod.ts";
import { compareBytes, equalBytes } from "../util/bytes.ts";
import { chainBlocks } from "./_block_chain.ts";
import {
  checkDataBlock,
  type DataBlockSummary,
  type DecodedIndex,
  readFilter,
  readIndex,
  readProperties,
} from "./_table_parts.ts";
import {
  checkValues,
  type Finding,
  finding,
  type PartKind,
  type Severity,
  type ValueCheck,
} from "./findings.ts";
import type { Entry } from "../util/entry.ts";

export type { DataBlockSummary } from "./_table_parts.ts";

/** Everything `scanTable` learned about one table file. */
export interface TableScan {
  /** The file. */
  path: string;
  /** Its size. */
  fileSizeBytes: number;
  /** The properties, when their block checks. */
  properties?: TableProperties;
  /** The statistics of the properties block. */
  stats?: TableStats;
  /** The data blocks that passed every check, in key order. */
  blocks: DataBlockSummary[];
  /** Data blocks found, good or damaged. */
  dataBlocksFound: number;
  /** How the data blocks were located. */
  located: "index" | "scan";
  /** What is damaged or inconsistent. */
  findings: Finding[];
}

/** What the metadata parts gave. */
interface Meta {
  footer?: Footer;
  dataEnd?: number;
  properties?: TableProperties;
  stats?: TableStats;
  filter?: BloomFilter;
  index?: DecodedIndex;
}

const reasonOf = (err: unknown): string => err instanceof Error ? err.message : String(err);

/** Reads and checks the table at `path` (and its values, by `checks`); never throws on bad content. */
export function scanTable(
  fs: FileSystem,
  path: string,
  checks: readonly ValueCheck[] = [],
): TableScan {
  const size = fs.stat(path)?.size ?? 0;
  const scan: TableScan = {
    path,
    fileSizeBytes: size,
    blocks: [],
    dataBlocksFound: 0,
    located: "index",
    findings: [],
  };
  const report = (
    part: PartKind,
    at: BlockHandle,
    err: unknown,
    severity: Severity = "corrupt",
  ) => scan.findings.push(finding(severity, path, part, at, reasonOf(err)));
  if (size > SALVAGE_TABLE_SIZE_BYTES_MAX) {
    report(
      "table",
      { offset: 0, sizeBytes: size },
      `File of ${size} bytes is too large to be a table (limit ${SALVAGE_TABLE_SIZE_BYTES_MAX}) in ${path}`,
    );
    return scan;
  }
  const buf = readWholeFile(fs, path);
  const meta = readMeta(buf, path, report);
  let handles: BlockHandle[];
  let separators: Uint8Array[] | undefined;
  let metadataAfter = Infinity;
  if (meta.index) {
    handles = meta.index.handles;
    separators = meta.index.keys;
  } else {
    scan.located = "scan";
    const located = locateByChain(buf, path, meta, report);
    handles = located.handles;
    // locateByChain may have recovered the index from the chained blocks.
    separators = (meta as Meta).index?.keys;
    metadataAfter = located.metadataAfter;
  }
  if (meta.properties) scan.properties = meta.properties;
  if (meta.stats) scan.stats = meta.stats;
  scan.dataBlocksFound = handles.length;
  let lastKey: Uint8Array | undefined;
  let allGood = true;
  for (let i = 0; i < handles.length; i++) {
    const h = handles[i]!;
    const damagedValues: Finding[] = [];
    const onEntry = checks.length === 0
      ? undefined
      : (e: Entry) => checkValues(checks, e, path, h, "data block", damagedValues);
    try {
      const summary = checkDataBlock(buf, h, path, lastKey, meta.filter, onEntry);
      scan.blocks.push(summary);
      scan.findings.push(...damagedValues);
      lastKey = summary.lastKey;
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      if (i >= metadataAfter) {
        // Without a footer or properties, the chained blocks after the data are the filter,
        // properties and index blocks, which do not decode as data.
        report(
          "region",
          h,
          `Not a data block (the filter, properties or index block): ${err.message}`,
          "warning",
        );
        continue;
      }
      allGood = false;
      const f = finding("corrupt", path, "data block", h, err.message);
      if (separators) {
        f.keyRange = { through: separators[i]! };
        if (i > 0) f.keyRange.after = separators[i - 1]!;
      }
      scan.findings.push(f);
    }
  }
  // Damaged values leave the table's structure intact: its parts still agree.
  const onlyValues = scan.findings.every((f) => checks.some((c) => c.part === f.part));
  if (allGood && onlyValues) crossCheck(scan, meta, separators, report);
  return scan;
}

/** Footer, then properties, filter and index; each failure is reported and left out. */
function readMeta(
  buf: Uint8Array,
  path: string,
  report: (part: PartKind, at: BlockHandle, err: unknown) => void,
): Meta {
  const meta: Meta = {};
  const footerAt = {
    offset: Math.max(0, buf.length - FOOTER_SIZE_BYTES),
    sizeBytes: FOOTER_SIZE_BYTES,
  };
  try {
    if (buf.length < FOOTER_SIZE_BYTES) {
      throw new CorruptionError(
        `Cannot open table: file of ${buf.length} bytes is shorter than the ${FOOTER_SIZE_BYTES}-byte footer in ${path}`,
      );
    }
    const footer = decodeFooter(buf.subarray(footerAt.offset), path, footerAt.offset);
    checkLayout(footer, footerAt.offset, path);
    meta.footer = footer;
    meta.dataEnd = footer.filter.offset;
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    report("footer", footerAt, err);
    return meta;
  }
  const footer = meta.footer;
  try {
    const p = readProperties(buf, footer.properties, path);
    meta.properties = p.properties;
    meta.stats = p.stats;
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    report("properties block", footer.properties, err);
  }
  if (footer.filter.sizeBytes > 0) {
    try {
      meta.filter = readFilter(buf, footer.filter, path);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      report("filter block", footer.filter, err);
    }
  }
  try {
    meta.index = readIndex(buf, footer.index, meta.dataEnd!, path);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    report("index block", footer.index, err);
  }
  return meta;
}

/** The tiling checks of `Table.open` on the footer's handles. */
function checkLayout(footer: Footer, footerOffset: number, path: string): void {
  const end = (h: BlockHandle) => h.offset + h.sizeBytes + BLOCK_TRAILER_SIZE_BYTES;
  const bad = (what: string) =>
    new CorruptionError(
      `Cannot open table: ${what} in footer at offset ${footerOffset} in ${path}`,
    );
  for (const h of [footer.filter, footer.properties, footer.index]) {
    if (h.offset > footerOffset || h.sizeBytes > footerOffset) {
      throw bad("block handle past the end of the file");
    }
  }
  const filterEnd = footer.filter.sizeBytes === 0 ? footer.filter.offset : end(footer.filter);
  if (footer.properties.offset !== filterEnd) throw bad("properties block misplaced");
  if (footer.index.offset !== end(footer.properties)) throw bad("index block misplaced");
  if (end(footer.index) !== footerOffset) throw bad("index block misplaced");
}

/**
 * Finds the data blocks by chaining trailers. With a footer, the data ends at its filter
 * offset. Without one, the chain runs to the footer (or the end of a cut file) and the
 * properties block, recognised from the end, says where the data ends; its neighbours are
 * the filter and index blocks, and an index that checks replaces the chain. Without either,
 * every chained block is tried as data; those after the last that decodes are metadata
 * (`metadataAfter`).
 */
function locateByChain(
  buf: Uint8Array,
  path: string,
  meta: Meta,
  report: (part: PartKind, at: BlockHandle, err: unknown) => void,
): { handles: BlockHandle[]; metadataAfter: number } {
  // The blocks end where the footer starts, unless the file was cut (then its last bytes
  // are a partial block): chain to the footer's place, and to the end of the file when that
  // leaves gaps and the footer's magic is gone too.
  let chain = chainBlocks(buf, 0, meta.dataEnd ?? Math.max(0, buf.length - FOOTER_SIZE_BYTES));
  const hasFooterMagic = buf.length >= FOOTER_SIZE_BYTES &&
    equalBytes(buf.subarray(buf.length - TABLE_MAGIC.length), TABLE_MAGIC);
  if (meta.dataEnd === undefined && chain.gaps.length > 0 && !hasFooterMagic) {
    const whole = chainBlocks(buf, 0, buf.length);
    const gapBytes = (c: typeof chain) => c.gaps.reduce((n, g) => n + g.sizeBytes, 0);
    if (gapBytes(whole) < gapBytes(chain)) chain = whole;
  }
  // Gaps are reported at the end: those inside data blocks an index recovered later are
  // reported as those blocks instead.
  const reportGaps = (handles: BlockHandle[]) => {
    for (const gap of chain.gaps) {
      const inData = handles.some((h) =>
        gap.offset < h.offset + h.sizeBytes + BLOCK_TRAILER_SIZE_BYTES &&
        h.offset < gap.offset + gap.sizeBytes
      );
      if (inData && meta.index) continue;
      report(
        "region",
        gap,
        `No block trailer found: ${gap.sizeBytes} bytes unreadable${
          gap.gaveUp ? " (the resynchronization budget ran out)" : ""
        } at offset ${gap.offset} in ${path}`,
      );
    }
  };
  const blocks = chain.blocks.map((b) => ({ offset: b.offset, sizeBytes: b.sizeBytes }));
  const done = (handles: BlockHandle[], metadataAfter = Infinity) => {
    reportGaps(handles);
    return { handles, metadataAfter };
  };
  if (meta.footer) return done(blocks);
  for (let j = blocks.length - 1; j >= 0; j--) {
    let props: ReturnType<typeof readProperties>;
    try {
      props = readProperties(buf, blocks[j]!, path);
    } catch {
      continue;
    }
    const dataEnd = props.stats.dataBytes;
    const boundary = blocks.findIndex((b) => b.offset === dataEnd);
    if (boundary < 0 || boundary > j || j - boundary > 1) continue;
    meta.properties = props.properties;
    meta.stats = props.stats;
    meta.dataEnd = dataEnd;
    if (boundary < j) {
      try {
        meta.filter = readFilter(buf, blocks[boundary]!, path);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        report("filter block", blocks[boundary]!, err);
      }
    }
    const indexBlock = blocks[j + 1];
    if (indexBlock) {
      try {
        meta.index = readIndex(buf, indexBlock, dataEnd, path);
        return done(meta.index.handles);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        report("index block", indexBlock, err);
      }
    }
    return done(blocks.slice(0, boundary));
  }
  // No properties block: the filter, properties and index blocks are the last two or three.
  return done(blocks, Math.max(0, blocks.length - 3));
}

/** The invariants between the parts of a table whose every part checks. */
function crossCheck(
  scan: TableScan,
  meta: Meta,
  separators: Uint8Array[] | undefined,
  report: (part: PartKind, at: BlockHandle, err: unknown) => void,
): void {
  const blocks = scan.blocks;
  const path = scan.path;
  if (meta.properties && meta.stats && meta.footer) {
    const props = meta.properties;
    const stats = meta.stats;
    const sum = (f: (b: DataBlockSummary) => number) => blocks.reduce((s, b) => s + f(b), 0);
    const entries = sum((b) => b.entries);
    const checks: [string, unknown, unknown][] = [
      ["data block count", stats.dataBlocks, blocks.length],
      ["entry count", props.entries, entries],
      ["tombstone count", props.tombstones, sum((b) => b.tombstones)],
      ["raw key bytes", stats.rawKeyBytes, sum((b) => b.rawKeyBytes)],
      ["raw value bytes", stats.rawValueBytes, sum((b) => b.rawValueBytes)],
      ["data bytes", stats.dataBytes, meta.footer.filter.offset],
    ];
    if (entries > 0) {
      checks.push(
        ["minSeq", props.minSeq, Math.min(...blocks.map((b) => b.minSeq))],
        ["maxSeq", props.maxSeq, Math.max(...blocks.map((b) => b.maxSeq))],
        ["smallest key", true, equalBytes(props.smallestKey, blocks[0]!.firstKey)],
        ["largest key", true, equalBytes(props.largestKey, blocks[blocks.length - 1]!.lastKey)],
      );
    }
    for (const [what, stored, actual] of checks) {
      if (stored !== actual) {
        report(
          "properties block",
          meta.footer.properties,
          `Cannot read properties: ${what} ${stored} differs from the data's ${actual} at offset ${meta.footer.properties.offset} in ${path}`,
        );
      }
    }
  }
  if (separators && meta.footer) {
    for (let i = 0; i < blocks.length; i++) {
      const sep = separators[i]!;
      const next = blocks[i + 1];
      const ok = compareBytes(blocks[i]!.lastKey, sep) <= 0 &&
        (next === undefined
          ? equalBytes(sep, blocks[i]!.lastKey)
          : compareBytes(sep, next.firstKey) < 0);
      if (!ok) {
        report(
          "index block",
          meta.footer.index,
          `Cannot read index: separator ${i} does not bound data block ${i} at offset ${meta.footer.index.offset} in ${path}`,
        );
        break;
      }
    }
  }
}
