/**
 * Readers of Linux's `/proc` for the host agent (ARCHITECTURE.md § "Host agent"): each parses
 * one file into numbers, nothing more. The root is a parameter so tests can point them at a fake
 * tree; the agent passes `/proc`. Every reader throws when its file is missing or malformed; the
 * collector decides what a missing file means.
 *
 * @module
 */

/** Cumulative CPU time of all cores, in clock ticks (`/proc/stat`, line `cpu`). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  /** Every field summed (guest time is already inside user and nice). */
  total: number;
}

/** Memory and swap in bytes (`/proc/meminfo`). */
export interface MemInfo {
  totalBytes: number;
  /** The kernel's estimate of memory available without swapping (`MemAvailable`). */
  availableBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
}

/** Counters of one block device (`/proc/diskstats`). */
export interface DiskCounters {
  /** Kernel name, e.g. `mmcblk0p2`, `sda1`, `vda`. */
  name: string;
  readBytes: number;
  writtenBytes: number;
}

/** One mounted file system (`/proc/self/mountinfo`). */
export interface Mount {
  /** Where it is mounted. */
  mountPoint: string;
  /** `major:minor` of its device (joins `/proc/diskstats`). */
  device: string;
  /** File system type, e.g. `ext4`. */
  fsType: string;
  /** Mount source, e.g. `/dev/mmcblk0p2`. */
  source: string;
}

/** Byte counters of one network interface (`/proc/net/dev`). */
export interface NetCounters {
  rxBytes: number;
  txBytes: number;
}

/** `/proc/diskstats` counts 512-byte sectors whatever the device's own sector size. */
const SECTOR_BYTES = 512;

/** File systems on storage (disk use is recorded for these, not for tmpfs, proc, cgroup…). */
export const DISK_FS_TYPES: ReadonlySet<string> = new Set([
  "ext2",
  "ext3",
  "ext4",
  "xfs",
  "btrfs",
  "f2fs",
  "vfat",
  "exfat",
  "ntfs",
  "ntfs3",
  "zfs",
  "jfs",
  "nilfs2",
  "overlay",
]);

function read(root: string, path: string): string {
  return Deno.readTextFileSync(`${root}/${path}`);
}

function fail(path: string, why: string): never {
  throw new Error(`Cannot parse ${path}: ${why}`);
}

/** Parses the `cpu` line of `/proc/stat`. */
export function parseCpuTimes(text: string): CpuTimes {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) fail("/proc/stat", "no cpu line");
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) fail("/proc/stat", line);
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = f as number[];
  return {
    user: user!,
    nice: nice!,
    system: system!,
    idle: idle!,
    iowait,
    irq,
    softirq,
    steal,
    total: user! + nice! + system! + idle! + iowait + irq + softirq + steal,
  };
}

/** Reads `<procRoot>/stat`. */
export function readCpuTimes(procRoot: string): CpuTimes {
  return parseCpuTimes(read(procRoot, "stat"));
}

/** Parses `/proc/loadavg` into the 1, 5 and 15 minute load averages. */
export function parseLoadAvg(text: string): [number, number, number] {
  const f = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (f.length !== 3 || f.some((n) => !Number.isFinite(n))) fail("/proc/loadavg", text);
  return [f[0]!, f[1]!, f[2]!];
}

/** Reads `<procRoot>/loadavg`. */
export function readLoadAvg(procRoot: string): [number, number, number] {
  return parseLoadAvg(read(procRoot, "loadavg"));
}

/** Parses `/proc/meminfo` (values in kB). */
export function parseMemInfo(text: string): MemInfo {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m !== null) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get("MemTotal");
  if (total === undefined) fail("/proc/meminfo", "no MemTotal");
  // Kernels before 3.14 lack MemAvailable: free + buffers + page cache is the old estimate.
  const available = kb.get("MemAvailable") ??
    (kb.get("MemFree") ?? 0) + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  return {
    totalBytes: total,
    availableBytes: available,
    swapTotalBytes: kb.get("SwapTotal") ?? 0,
    swapFreeBytes: kb.get("SwapFree") ?? 0,
  };
}

/** Reads `<procRoot>/meminfo`. */
export function readMemInfo(procRoot: string): MemInfo {
  return parseMemInfo(read(procRoot, "meminfo"));
}

/** Parses `/proc/uptime` into seconds since boot. */
export function parseUptime(text: string): number {
  const s = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(s)) fail("/proc/uptime", text);
  return s;
}

/** Reads `<procRoot>/uptime`. */
export function readUptime(procRoot: string): number {
  return parseUptime(read(procRoot, "uptime"));
}

/** Parses `/proc/diskstats`, keyed by `major:minor`. */
export function parseDiskStats(text: string): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    // major minor name reads merged sectors_read ms writes merged sectors_written …
    out.set(`${f[0]}:${f[1]}`, {
      name: f[2]!,
      readBytes: Number(f[5]) * SECTOR_BYTES,
      writtenBytes: Number(f[9]) * SECTOR_BYTES,
    });
  }
  return out;
}

/** Reads `<procRoot>/diskstats`. */
export function readDiskStats(procRoot: string): Map<string, DiskCounters> {
  return parseDiskStats(read(procRoot, "diskstats"));
}

/** Undoes mountinfo's octal escapes (`\040` is a space in a mount point). */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Parses `/proc/self/mountinfo` into the mounts of storage file systems (`DISK_FS_TYPES`), one
 * per device: a device mounted twice (bind mounts) counts once, at its shortest mount point.
 */
export function parseMounts(text: string): Mount[] {
  const byDevice = new Map<string, Mount>();
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const right = line.slice(sep + 3).split(" ");
    const device = left[2];
    const mountPoint = left[4];
    const fsType = right[0];
    if (device === undefined || mountPoint === undefined || fsType === undefined) continue;
    if (!DISK_FS_TYPES.has(fsType)) continue;
    const mount = {
      mountPoint: unescapeOctal(mountPoint),
      device,
      fsType,
      source: unescapeOctal(right[1] ?? ""),
    };
    const seen = byDevice.get(device);
    if (seen === undefined || mount.mountPoint.length < seen.mountPoint.length) {
      byDevice.set(device, mount);
    }
  }
  return [...byDevice.values()].sort((a, b) => a.mountPoint.localeCompare(b.mountPoint));
}

/** Reads `<procRoot>/self/mountinfo`. */
export function readMounts(procRoot: string): Mount[] {
  return parseMounts(read(procRoot, "self/mountinfo"));
}

/** Parses `/proc/net/dev`, keyed by interface name. */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 9) continue;
    out.set(name, { rxBytes: f[0]!, txBytes: f[8]! });
  }
  return out;
}

/** Reads `<procRoot>/net/dev`. */
export function readNetDev(procRoot: string): Map<string, NetCounters> {
  return parseNetDev(read(procRoot, "net/dev"));
}
