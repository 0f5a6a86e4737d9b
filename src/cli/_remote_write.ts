/**
 * `--remote-write URL` (repeatable), `--remote-write-filter` and `--remote-write-rollups-only`
 * for `serve`, `leader` and `replica`: the flags' parsing (`_remote_write_start.ts` starts the
 * exporters: `src/export/remote_write.ts`, ARCHITECTURE.md § "Remote-write export").
 *
 * @module
 */

import type { LabelFilter } from "../timeseries/labels.ts";
import { type ParsedArgs, UsageError } from "./_args.ts";

/** The value flags (`--remote-write-rollups-only` is a boolean flag). */
export const REMOTE_WRITE_FLAGS = ["remote-write", "remote-write-filter"] as const;
/** The boolean flag. */
export const REMOTE_WRITE_BOOLEAN_FLAGS = ["remote-write-rollups-only"] as const;

/** The flags' lines in `serve --help`. */
export const REMOTE_WRITE_HELP =
  `  --remote-write URL     Ship the time series to a Prometheus remote-write receiver (repeatable:
                         one position per URL, kept in <data-dir>/remote_write/; user:pass@
                         in the URL is basic auth). Starts at the first start with the URL
  --remote-write-filter "l=v \u2026"
                         Ship only the series matching these filters (TS.MRANGE syntax)
  --remote-write-rollups-only
                         Ship only rollups (destinations of TS.CREATERULE rules)
`;

/** The checked flags. */
export interface RemoteWriteSettings {
  urls: string[];
  filter: LabelFilter[] | undefined;
  rollupsOnly: boolean;
}

/**
 * Reads the flags; undefined when no `--remote-write` was given. The filter's parser (the
 * time-series layer's) loads only when a filter is given: a server without one need not keep
 * it in memory (ARCHITECTURE.md § "Memory").
 */
export async function remoteWriteSettings(
  command: string,
  parsed: ParsedArgs,
): Promise<RemoteWriteSettings | undefined> {
  const urls = parsed.lists?.get("remote-write") ?? [];
  const filterText = parsed.strings.get("remote-write-filter");
  const rollupsOnly = parsed.booleans.has("remote-write-rollups-only");
  if (urls.length === 0) {
    if (filterText !== undefined || rollupsOnly) {
      throw new UsageError(
        command,
        "--remote-write-filter and --remote-write-rollups-only need --remote-write URL",
      );
    }
    return undefined;
  }
  for (const url of urls) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(command, `invalid --remote-write ${JSON.stringify(url)}: not a URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new UsageError(
        command,
        `invalid --remote-write ${JSON.stringify(url)}: use http:// or https://`,
      );
    }
  }
  if (new Set(urls).size !== urls.length) {
    throw new UsageError(command, "--remote-write: the same URL is given twice");
  }
  let filter: LabelFilter[] | undefined;
  if (filterText !== undefined) {
    const { FilterError, parseFilters } = await import("../timeseries/labels.ts");
    const { textToBinary } = await import("../timeseries/meta.ts");
    try {
      filter = parseFilters(
        filterText.split(/\s+/).filter((e) => e !== "").map((e) => textToBinary(e)),
      );
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      throw new UsageError(
        command,
        `invalid --remote-write-filter ${JSON.stringify(filterText)}: ${
          err.message.replace(/^TSDB: /, "")
        }`,
      );
    }
  }
  return { urls, filter, rollupsOnly };
}
