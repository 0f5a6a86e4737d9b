/**
 * Readers of `/sys` and of file-system sizes for the host agent: thermal zones (a Raspberry
 * Pi's SoC is `thermal_zone0`, type `cpu-thermal`) and disk use through `statfs`. The roots and
 * the `statfs` function are parameters so tests can use a fake tree.
 *
 * @module
 */

import { statfsSync } from "node:fs";

/** One temperature sensor. */
export interface ThermalZone {
  /** Directory name, e.g. `thermal_zone0`. */
  zone: string;
  /** What it measures, from its `type` file, e.g. `cpu-thermal`, `x86_pkg_temp`. */
  type: string;
  /** Degrees Celsius. */
  celsius: number;
}

/** Size and use of one file system in bytes. */
export interface DiskUsage {
  totalBytes: number;
  /** Bytes in use (total − free, reserved blocks included, as `df` counts them). */
  usedBytes: number;
  /** Bytes an unprivileged user may still write. */
  availableBytes: number;
}

/** What `statfs(2)` gives (the fields used). */
export interface StatFs {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

/**
 * Every readable thermal zone under `<sysRoot>/class/thermal`, by zone number. A zone whose
 * `temp` cannot be read (some report EINVAL or ENODATA while a sensor sleeps) is left out.
 */
export function readThermalZones(sysRoot: string): ThermalZone[] {
  const dir = `${sysRoot}/class/thermal`;
  const zones: ThermalZone[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  for (const e of entries) {
    if (!/^thermal_zone\d+$/.test(e.name)) continue;
    try {
      const milli = Number(Deno.readTextFileSync(`${dir}/${e.name}/temp`).trim());
      if (!Number.isFinite(milli)) continue;
      let type = e.name;
      try {
        type = Deno.readTextFileSync(`${dir}/${e.name}/type`).trim() || e.name;
      } catch {
        // No type file: the zone's name stands in.
      }
      zones.push({ zone: e.name, type, celsius: milli / 1000 });
    } catch {
      // Unreadable now; maybe next time.
    }
  }
  return zones.sort((a, b) => Number(a.zone.slice(12)) - Number(b.zone.slice(12)));
}

/** `statfs` of a path through Node's API (Deno has no statvfs of its own). */
export function statfs(path: string): StatFs {
  const s = statfsSync(path);
  return {
    bsize: Number(s.bsize),
    blocks: Number(s.blocks),
    bfree: Number(s.bfree),
    bavail: Number(s.bavail),
  };
}

/** Use of the file system holding `path`. */
export function diskUsage(path: string, stat: (path: string) => StatFs = statfs): DiskUsage {
  const s = stat(path);
  return {
    totalBytes: s.blocks * s.bsize,
    usedBytes: (s.blocks - s.bfree) * s.bsize,
    availableBytes: s.bavail * s.bsize,
  };
}
