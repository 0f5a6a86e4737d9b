/**
 * The web console's files, as modules of the module graph: every file under `client/` and
 * uPlot's distribution files are imported as text (`with { type: "text" }`, Deno's raw imports,
 * enabled by `"unstable": ["raw-imports"]` in deno.json). So `deno run`, `deno bundle` and
 * `deno compile` all carry them, nothing is read from the source tree at run time, and
 * uPlot's bytes are the ones deno.lock pins by integrity hash. ARCHITECTURE.md § "Web console"
 * explains the choice.
 *
 * @module
 */

import indexHtml from "./client/index.html" with { type: "text" };
import appCss from "./client/app.css" with { type: "text" };
import iconSvg from "./client/icon.svg" with { type: "text" };
import apiJs from "./client/api.js" with { type: "text" };
import appJs from "./client/app.js" with { type: "text" };
import bytesJs from "./client/bytes.js" with { type: "text" };
import chartDataJs from "./client/chart_data.js" with { type: "text" };
import chartPageJs from "./client/chart_page.js" with { type: "text" };
import chartViewJs from "./client/chart_view.js" with { type: "text" };
import domJs from "./client/dom.js" with { type: "text" };
import formatJs from "./client/format.js" with { type: "text" };
import healthPageJs from "./client/health_page.js" with { type: "text" };
import keyPageJs from "./client/key_page.js" with { type: "text" };
import keysPageJs from "./client/keys_page.js" with { type: "text" };
import metricsTextJs from "./client/metrics_text.js" with { type: "text" };
import navJs from "./client/nav.js" with { type: "text" };
import replicationPageJs from "./client/replication_page.js" with { type: "text" };
import seriesPageJs from "./client/series_page.js" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** The uPlot release the console ships (deno.json pins the same version). */
export const UPLOT_VERSION = "1.6.32";

/** One file the console serves. */
export interface ConsoleAsset {
  /** URL path, e.g. `/console/app.js`. */
  readonly path: string;
  /** `Content-Type` header. */
  readonly contentType: string;
  /** The file's bytes (UTF-8). */
  readonly body: Uint8Array;
  /** Strong validator for `If-None-Match` (a hash of the body). */
  readonly etag: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

const SOURCES: readonly [string, string, string][] = [
  ["/", "text/html; charset=utf-8", indexHtml],
  // One style sheet for the first paint: uPlot's rules, then the console's.
  ["/console/app.css", CSS, `${uplotCss}\n${appCss}`],
  ["/console/icon.svg", "image/svg+xml", iconSvg],
  ["/console/uplot.js", JS, uplotJs],
  ["/console/api.js", JS, apiJs],
  ["/console/app.js", JS, appJs],
  ["/console/bytes.js", JS, bytesJs],
  ["/console/chart_data.js", JS, chartDataJs],
  ["/console/chart_page.js", JS, chartPageJs],
  ["/console/chart_view.js", JS, chartViewJs],
  ["/console/dom.js", JS, domJs],
  ["/console/format.js", JS, formatJs],
  ["/console/health_page.js", JS, healthPageJs],
  ["/console/key_page.js", JS, keyPageJs],
  ["/console/keys_page.js", JS, keysPageJs],
  ["/console/metrics_text.js", JS, metricsTextJs],
  ["/console/nav.js", JS, navJs],
  ["/console/replication_page.js", JS, replicationPageJs],
  ["/console/series_page.js", JS, seriesPageJs],
];

/** Two 32-bit FNV-1a hashes (different offsets) of `bytes` as 16 hex digits: an ETag. */
function contentHash(bytes: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x01000193) + i;
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}

const encoder = new TextEncoder();

/** Every console file by path. */
export const CONSOLE_ASSETS: ReadonlyMap<string, ConsoleAsset> = new Map(
  SOURCES.map(([path, contentType, text]) => {
    const body = encoder.encode(text);
    return [path, { path, contentType, body, etag: `"${contentHash(body)}"` }];
  }),
);
