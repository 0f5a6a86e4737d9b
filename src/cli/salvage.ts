/**
 * `cityhall verify`, `cityhall salvage` and `cityhall import`: the offline tools for a damaged
 * data directory (ARCHITECTURE.md § "Verify and salvage"). Verify and salvage never write to
 * the directory they read; they take its lock (when it has a LOCK file) so that a running
 * server cannot change it under them.
 *
 * @module
 */

import { SERIES_CHUNK_CHECK } from "./_verify_chunks.ts";
import { CorruptionError, InvalidArgumentError, LockedError } from "../errors.ts";
import { type DirLock, joinPath, RealFs } from "../fs/mod.ts";
import { ExportWriter, importExport, salvageDirectory } from "../salvage/mod.ts";
import { createLogger, formatLogfmtFields } from "../util/log.ts";
import {
  type Finding,
  findingFields,
  printableKey,
  verifyDirectory,
  type VerifyReport,
} from "../verify/mod.ts";
import { parseFlags, UsageError } from "./_args.ts";
import { resolveDataDir } from "./_common.ts";
import { printErr, printJson, printOut } from "./_output.ts";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { repairDirectory, type RepairResult } from "../fleet/repair.ts";
import { tableFileName } from "../manifest/mod.ts";

/** Help of `cityhall verify`. */
export const VERIFY_HELP = `Usage: cityhall verify [--data-dir DIR] [--json] [--repair]

Read every manifest copy, SSTable block and WAL record of DIR and check every checksum and
the invariants between the files, without changing anything (stop the server first: the
directory lock is taken). Prints one line per damaged part (file, offset, size, part, reason),
what opening the database would do, and a summary.

  --data-dir DIR   The data directory (default ~/.cityhall/data)
  --json           One JSON document instead of lines
  --repair         Move a damaged table aside to DIR/damaged/ when its data can be had again:
                   rebuilt from the WAL when the WAL still holds every record since the
                   table's oldest (nothing lost but tombstones and expired values compaction
                   had already dropped), or, on a fleet hub, a table holding one site's keys
                   only, which the site's edge sends again (until it does, the hub lacks those
                   keys; history the edge no longer holds is not sent again). Anything else is
                   left as it is; then use salvage. Verify runs again after a repair

Exit codes: 0 nothing damaged (warnings allowed), 1 damage found or DIR unreadable, 2 usage.
`;

/** Help of `cityhall salvage`. */
export const SALVAGE_HELP =
  `Usage: cityhall salvage [--data-dir DIR] [--output FILE|-] [--report FILE]

Export every key/value that can still be read from DIR, even one the database refuses to
open, without changing DIR: every intact SSTable block (blocks are found by their trailers
when a footer or index is damaged) and WAL record, merged by sequence number (newest version
wins, deleted and expired keys dropped). Every damaged part skipped is logged on stderr (file,
offset, size, reason) and counted in the summary. Load the export with "cityhall import".

  --data-dir DIR   The data directory (default ~/.cityhall/data)
  --output FILE    Write the export to FILE (must not exist; written to FILE.tmp, fsynced,
                   renamed); "-" writes it to stdout (the default when stdout is not a terminal)
  --report FILE    Also write the summary and every damaged part as JSON to FILE

Exit codes: 0 exported, nothing damaged; 1 exported with damaged parts skipped (see stderr),
or nothing exported; 2 usage.
`;

/** Help of `cityhall import`. */
export const IMPORT_HELP = `Usage: cityhall import --data-dir NEWDIR [FILE|-]

Load a "cityhall salvage" export (FILE, or stdin with "-" or no argument) into NEWDIR, which
must not exist or be empty. The whole export is checked (every record's checksum, key order,
the final counts and stream checksum); if anything is wrong NEWDIR is left as it was.

Exit codes: 0 imported, 1 bad export or NEWDIR not empty, 2 usage.
`;

/**
 * Takes the directory's lock when it has a LOCK file, the way the engine does (`flock`,
 * exclusive), but through a read-only handle: no file is created and no mode is changed.
 */
function lockIfPresent(dir: string): DirLock | undefined {
  const path = joinPath(dir, "LOCK");
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (!file.tryLockSync(true)) {
    file.close();
    throw new LockedError(`Cannot lock ${path}: another process holds it`);
  }
  return {
    release() {
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

/** Checks DIR and locks it; prints the reason and returns undefined when it cannot. */
function openReadOnly(
  name: string,
  dir: string,
): { fs: RealFs; lock: DirLock | undefined } | undefined {
  const fs = new RealFs();
  if (!fs.stat(dir)?.isDirectory) {
    printErr(`cityhall ${name}: Cannot read ${dir}: not a directory`);
    return undefined;
  }
  try {
    return { fs, lock: lockIfPresent(dir) };
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    printErr(
      `cityhall ${name}: Cannot read ${dir}: it is in use by another process (stop the server first)`,
    );
    return undefined;
  }
}

function jsonFinding(f: Finding): Record<string, unknown> {
  const out: Record<string, unknown> = {
    severity: f.severity,
    file: f.file,
    offset: f.offset,
    size: f.sizeBytes,
    part: f.part,
    reason: f.reason,
  };
  if (f.keyRange?.after) out.keysAfter = printableKey(f.keyRange.after);
  if (f.keyRange) out.keysThrough = printableKey(f.keyRange.through);
  return out;
}

function verifyCounts(report: VerifyReport) {
  const tables = [...report.tables.values()];
  return {
    tables: tables.length,
    dataBlocks: tables.reduce((s, t) => s + t.dataBlocksFound, 0),
    walSegments: report.segments.length,
    walRecords: report.segments.reduce((s, x) => s + x.records, 0),
    corrupt: report.findings.filter((f) => f.severity === "corrupt").length,
    warnings: report.findings.filter((f) => f.severity === "warning").length,
  };
}

/** `cityhall verify`. */
export async function verifyCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("verify", args, {
    string: ["data-dir"],
    boolean: ["json", "repair"],
  });
  if (parsed.booleans.has("help")) {
    printOut(VERIFY_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError("verify", `unexpected argument '${parsed.positionals[0]}'`);
  }
  const dir = resolveDataDir("verify", parsed.strings.get("data-dir"));
  const opened = openReadOnly("verify", dir);
  if (!opened) return 1;
  let report: VerifyReport;
  let repaired: RepairResult | undefined;
  let locked = true;
  const unlock = () => {
    if (locked) opened.lock?.release();
    locked = false;
  };
  try {
    report = await verifyDirectory(opened.fs, dir, { valueChecks: [SERIES_CHUNK_CHECK] });
    if (!report.clean && parsed.booleans.has("repair")) {
      repaired = await repairDirectory(opened.fs, dir, report, unlock);
      if (repaired.repaired.length > 0) {
        if (!locked) {
          const again = openReadOnly("verify", dir);
          if (!again) return 1;
          opened.lock = again.lock;
          locked = true;
        }
        report = await verifyDirectory(opened.fs, dir, { valueChecks: [SERIES_CHUNK_CHECK] });
      }
    }
  } finally {
    unlock();
  }
  if (repaired !== undefined) printRepair(repaired, parsed.booleans.has("json"));
  const counts = verifyCounts(report);
  const result = report.clean ? "ok" : "corrupt";
  if (parsed.booleans.has("json")) {
    printJson({
      dir,
      result,
      ...counts,
      open: report.open,
      findings: report.findings.map(jsonFinding),
    });
  } else {
    for (const f of report.findings) {
      printOut(formatLogfmtFields({ finding: f.severity, ...findingFields(f) }));
    }
    printOut(formatLogfmtFields({
      open: report.open.ok ? "ok" : "refused",
      reason: report.open.error,
    }));
    for (const w of report.open.warnings) printOut(formatLogfmtFields({ open_warning: w }));
    printOut(formatLogfmtFields({ verify: result, dir, ...snake(counts) }));
  }
  return report.clean ? 0 : 1;
}

/** One line per table repaired or left, before the verify report of the result. */
function printRepair(r: RepairResult, json: boolean): void {
  if (json) {
    printErr(JSON.stringify({ repair: r }));
    return;
  }
  for (const a of r.repaired) {
    printOut(formatLogfmtFields({
      repaired: tableFileName(a.fileNumber),
      source: a.source,
      moved_to: a.movedTo,
      ...(a.rebuiltAs !== undefined ? { rebuilt_as: tableFileName(a.rebuiltAs) } : {}),
      ...(a.entries !== undefined ? { entries: a.entries } : {}),
      ...(a.site !== undefined
        ? { site: a.site, note: "the site's edge sends its data again" }
        : {}),
    }));
  }
  for (const u of r.unrecoverable) {
    printOut(formatLogfmtFields({ not_repaired: tableFileName(u.fileNumber), reason: u.reason }));
  }
  for (const o of r.otherDamage) {
    printOut(formatLogfmtFields({ not_repaired: "damage", reason: o }));
  }
}

function snake(fields: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  }
  return out;
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** `cityhall salvage`. */
export async function salvageCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("salvage", args, { string: ["data-dir", "output", "report"] });
  if (parsed.booleans.has("help")) {
    printOut(SALVAGE_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError("salvage", `unexpected argument '${parsed.positionals[0]}'`);
  }
  const dir = resolveDataDir("salvage", parsed.strings.get("data-dir"));
  const outputFlag = parsed.strings.get("output") ?? (stdoutIsTerminal() ? undefined : "-");
  if (outputFlag === undefined) {
    throw new UsageError("salvage", "stdout is a terminal: pass --output FILE (or --output -)");
  }
  const output = outputFlag === "-" ? undefined : resolve(outputFlag);
  const report = parsed.strings.get("report");
  for (const [flag, path] of [["output", output], ["report", report]] as const) {
    if (path !== undefined && isInside(dir, resolve(path))) {
      throw new UsageError(
        "salvage",
        `--${flag} ${path} is inside the data directory, which salvage never writes to`,
      );
    }
  }
  if (output !== undefined && (await exists(output))) {
    throw new UsageError("salvage", `--output ${output} already exists`);
  }
  const opened = openReadOnly("salvage", dir);
  if (!opened) return 1;
  const log = createLogger("info");
  let file: Deno.FsFile | undefined;
  const tmp = output === undefined ? undefined : `${output}.tmp`;
  try {
    // 0600 like every data file: the export holds every value of the database.
    file = tmp === undefined
      ? undefined
      : Deno.openSync(tmp, { write: true, createNew: true, mode: 0o600 });
    const sink = (chunk: Uint8Array) => {
      const out = file ?? Deno.stdout;
      for (let o = 0; o < chunk.length;) o += out.writeSync(chunk.subarray(o));
    };
    const summary = salvageDirectory(opened.fs, dir, new ExportWriter(sink, Date.now()));
    if (file && tmp && output) {
      file.syncSync();
      file.close();
      file = undefined;
      await Deno.rename(tmp, output);
      syncDirectory(dirname(output));
    }
    const findings = summary.read.findings;
    for (const f of findings) {
      log(
        f.severity === "corrupt" ? "error" : "warn",
        f.severity === "corrupt" ? "damaged part skipped" : "salvage warning",
        findingFields(f),
      );
    }
    const damaged = findings.filter((f) => f.severity === "corrupt").length;
    const totals = {
      manifests: summary.manifestsUsed.join(",") || "none",
      tables: summary.tables,
      dataBlocksGood: summary.dataBlocksGood,
      dataBlocksDamaged: summary.dataBlocksDamaged,
      walRecords: summary.walRecords,
      walOpsUsed: summary.walOpsUsed,
      entriesRead: summary.entriesRead,
      deleted: summary.deleted,
      expired: summary.expired,
      exported: summary.exported.entries,
      exportedBytes: summary.exported.keyValueBytes,
      damagedParts: damaged,
      warnings: findings.length - damaged,
    };
    log("info", "salvage summary", { output: output ?? "stdout", ...totals });
    if (report !== undefined) {
      await Deno.writeTextFile(
        report,
        JSON.stringify(
          { dir, output: output ?? "stdout", ...totals, findings: findings.map(jsonFinding) },
          null,
          2,
        ) + "\n",
        { mode: 0o600 },
      );
    }
    if (summary.manifestsUsed.length === 0) {
      log(
        "warn",
        "no usable manifest copy: every table and WAL record was used, so keys deleted long ago may be back",
        { dir },
      );
    }
    return damaged > 0 ? 1 : 0;
  } catch (err) {
    if (file) {
      file.close();
      await Deno.remove(tmp!).catch(() => {});
    }
    throw err;
  } finally {
    opened.lock?.release();
  }
}

function stdoutIsTerminal(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function syncDirectory(dir: string): void {
  if (Deno.build.os === "windows") return;
  new RealFs().syncDir(dir);
}

/** `cityhall import`. */
export async function importCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("import", args, { string: ["data-dir"] });
  if (parsed.booleans.has("help")) {
    printOut(IMPORT_HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    throw new UsageError("import", `unexpected argument '${parsed.positionals[1]}'`);
  }
  const dirFlag = parsed.strings.get("data-dir");
  if (dirFlag === undefined) throw new UsageError("import", "missing --data-dir NEWDIR");
  const dir = resolveDataDir("import", dirFlag);
  const source = parsed.positionals[0] ?? "-";
  let input: Deno.FsFile | undefined;
  try {
    input = source === "-" ? undefined : await Deno.open(source);
  } catch (err) {
    printErr(`cityhall import: Cannot read ${source}: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const readable = input ? input.readable : Deno.stdin.readable;
  try {
    const summary = await importExport(readable, source === "-" ? "stdin" : source, dir, {
      logger: createLogger("warn"),
    });
    printOut(formatLogfmtFields({
      imported: summary.entries,
      expired_skipped: summary.expired,
      bytes: summary.keyValueBytes,
      dir,
    }));
    return 0;
  } catch (err) {
    if (err instanceof CorruptionError || err instanceof InvalidArgumentError) {
      printErr(`cityhall import: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
