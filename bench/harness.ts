/**
 * Shared pieces of the benchmarks: a row type, timing, scaling and the table printer.
 */

/** One line of the results table. */
export interface Row {
  /** What was measured. */
  name: string;
  /** Unit of `cityhall` and `denoKv`. */
  unit: string;
  /** CityHall's number. */
  cityhall: number;
  /** The peer's number in the same run, where there is one. */
  denoKv?: number;
  /** Name of the peer when it is not Deno KV. */
  peer?: string;
  /** True when a smaller number is better (latency, time, memory). */
  lowerIsBetter?: boolean;
  /** Extra detail. */
  note?: string;
}

/** BENCH_SCALE (default 1) times `n`, at least 1. */
export function scaled(n: number): number {
  const scale = Number(Deno.env.get("BENCH_SCALE") ?? "1");
  return Math.max(1, Math.round(n * scale));
}

/** A port that was free a moment ago (for servers that cannot take port 0). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs `fn` once and returns `ops` per second. */
export async function timeIt(ops: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return ops / ((performance.now() - t0) / 1000);
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** The ratio CityHall / peer, oriented so that > 1 means CityHall is better. */
export function ratio(row: Row): number | undefined {
  if (row.denoKv === undefined || row.denoKv === 0 || row.cityhall === 0) return undefined;
  return row.lowerIsBetter ? row.denoKv / row.cityhall : row.cityhall / row.denoKv;
}

/** One printed table line. */
export function formatRow(row: Row): string {
  const r = ratio(row);
  return `| ${row.name} | ${fmt(row.cityhall)} ${row.unit} | ${
    row.denoKv === undefined ? "-" : `${fmt(row.denoKv)} ${row.unit}`
  } | ${r === undefined ? "-" : `${r.toFixed(1)}x`} | ${row.note ?? ""} |`;
}

/** The table header. */
export const TABLE_HEADER =
  "| row | CityHall | peer (Deno KV unless noted) | ratio (>1 = CityHall better) | notes |\n" +
  "| --- | --- | --- | --- | --- |";
