/**
 * The host collector: turns readings of `/proc` and `/sys` into one reading per metric at each
 * tick, rates from the difference with the previous tick (ARCHITECTURE.md § "Host agent" lists
 * the metrics). A reader that fails leaves its metrics out of that tick and is reported once
 * through `problems`; the others still count.
 *
 * @module
 */

import {
  type CpuTimes,
  type DiskCounters,
  type Mount,
  type NetCounters,
  readCpuTimes,
  readDiskStats,
  readLoadAvg,
  readMemInfo,
  readMounts,
  readNetDev,
  readUptime,
} from "./proc.ts";
import { diskUsage, readThermalZones, type StatFs, statfs } from "./sys.ts";

/** One value of one metric; `dims` name the instance (a mount, an interface, a zone). */
export interface Reading {
  /** Metric name, e.g. `cpu_used_percent` (the `metric` label). */
  metric: string;
  /** Instance labels, e.g. `{ mount: "/" }`. */
  dims?: Record<string, string>;
  /** The value. */
  value: number;
}

/** Where the collector reads (injectable for tests). */
export interface HostPaths {
  /** Default `/proc`. */
  procRoot?: string;
  /** Default `/sys`. */
  sysRoot?: string;
  /** Default: `statfs(2)` through `node:fs`. */
  statfs?: (path: string) => StatFs;
}

/** How often the mount list is read again (mounts change rarely). */
const MOUNTS_REFRESH_MS = 60_000;

interface Previous {
  tMs: number;
  cpu?: CpuTimes;
  disks?: Map<string, DiskCounters>;
  net?: Map<string, NetCounters>;
}

function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Collects the host's metrics; keeps the previous counters for rates. */
export class HostCollector {
  readonly #proc: string;
  readonly #sys: string;
  readonly #statfs: (path: string) => StatFs;
  #prev: Previous | undefined;
  #mounts: Mount[] = [];
  #mountsAtMs = -Infinity;
  /** Readers that failed, with the first error (`name: message`), for the agent to log once. */
  readonly problems: Map<string, string> = new Map();

  constructor(paths: HostPaths = {}) {
    this.#proc = paths.procRoot ?? "/proc";
    this.#sys = paths.sysRoot ?? "/sys";
    this.#statfs = paths.statfs ?? statfs;
  }

  #try<T>(name: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!this.problems.has(name)) {
        this.problems.set(name, err instanceof Error ? err.message : String(err));
      }
      return undefined;
    }
  }

  /** Readings at `nowMs`: gauges always, rates from the second call on. */
  collect(nowMs: number): Reading[] {
    const out: Reading[] = [];
    const add = (metric: string, value: number, dims?: Record<string, string>) => {
      if (Number.isFinite(value)) out.push(dims ? { metric, value, dims } : { metric, value });
    };
    const prev = this.#prev;
    const dtS = prev === undefined ? 0 : (nowMs - prev.tMs) / 1000;
    const next: Previous = { tMs: nowMs };

    const cpu = this.#try("cpu", () => readCpuTimes(this.#proc));
    if (cpu !== undefined) {
      next.cpu = cpu;
      const p = prev?.cpu;
      const dt = p === undefined ? 0 : cpu.total - p.total;
      if (p !== undefined && dt > 0) {
        const pct = (a: number, b: number) => round((100 * (a - b)) / dt, 2);
        const busy = (t: CpuTimes) => t.total - t.idle - t.iowait;
        add("cpu_used_percent", pct(busy(cpu), busy(p)));
        add("cpu_user_percent", pct(cpu.user + cpu.nice, p.user + p.nice));
        add(
          "cpu_system_percent",
          pct(cpu.system + cpu.irq + cpu.softirq, p.system + p.irq + p.softirq),
        );
        add("cpu_iowait_percent", pct(cpu.iowait, p.iowait));
      }
    }
    const load = this.#try("load", () => readLoadAvg(this.#proc));
    if (load !== undefined) {
      add("load1", load[0]);
      add("load5", load[1]);
      add("load15", load[2]);
    }
    const mem = this.#try("memory", () => readMemInfo(this.#proc));
    if (mem !== undefined) {
      add("mem_total_bytes", mem.totalBytes);
      add("mem_available_bytes", mem.availableBytes);
      add(
        "mem_used_percent",
        round((100 * (mem.totalBytes - mem.availableBytes)) / mem.totalBytes, 2),
      );
      add("swap_total_bytes", mem.swapTotalBytes);
      add("swap_used_bytes", mem.swapTotalBytes - mem.swapFreeBytes);
    }
    const uptime = this.#try("uptime", () => readUptime(this.#proc));
    if (uptime !== undefined) add("uptime_seconds", round(uptime, 0));

    if (nowMs - this.#mountsAtMs >= MOUNTS_REFRESH_MS) {
      const mounts = this.#try("mounts", () => readMounts(this.#proc));
      if (mounts !== undefined) {
        this.#mounts = mounts;
        this.#mountsAtMs = nowMs;
      }
    }
    const disks = this.#try("diskstats", () => readDiskStats(this.#proc));
    if (disks !== undefined) next.disks = disks;
    for (const m of this.#mounts) {
      const use = this.#try(`statfs ${m.mountPoint}`, () => diskUsage(m.mountPoint, this.#statfs));
      const dims = { mount: m.mountPoint };
      if (use !== undefined && use.totalBytes > 0) {
        add("disk_total_bytes", use.totalBytes, dims);
        add("disk_used_bytes", use.usedBytes, dims);
        // As df: used / (used + available to users), so reserved blocks count as full.
        add(
          "disk_used_percent",
          round((100 * use.usedBytes) / (use.usedBytes + use.availableBytes), 2),
          dims,
        );
      }
      const now = disks?.get(m.device);
      const before = prev?.disks?.get(m.device);
      if (now !== undefined && before !== undefined && dtS > 0) {
        const ddims = { mount: m.mountPoint, device: now.name };
        add(
          "disk_read_bytes_per_s",
          round(Math.max(0, now.readBytes - before.readBytes) / dtS, 1),
          ddims,
        );
        add(
          "disk_write_bytes_per_s",
          round(Math.max(0, now.writtenBytes - before.writtenBytes) / dtS, 1),
          ddims,
        );
      }
    }

    const net = this.#try("network", () => readNetDev(this.#proc));
    if (net !== undefined) {
      next.net = net;
      for (const [iface, c] of net) {
        const before = prev?.net?.get(iface);
        if (iface === "lo" || before === undefined || dtS <= 0) continue;
        add("net_rx_bytes_per_s", round(Math.max(0, c.rxBytes - before.rxBytes) / dtS, 1), {
          iface,
        });
        add("net_tx_bytes_per_s", round(Math.max(0, c.txBytes - before.txBytes) / dtS, 1), {
          iface,
        });
      }
    }

    const zones = this.#try("thermal", () => readThermalZones(this.#sys)) ?? [];
    for (const z of zones) add("temp_celsius", round(z.celsius, 2), { zone: z.zone, type: z.type });

    this.#prev = next;
    return out;
  }
}
