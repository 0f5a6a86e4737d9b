/**
 * The host agent's readers against this machine's real /proc, a fake /sys tree for the thermal
 * zones (a Raspberry Pi's `cpu-thermal` and broken neighbours), a fake /proc with files missing,
 * and the parsers on the odd lines real systems write (escaped mount points, bind mounts, old
 * kernels without MemAvailable).
 */

import { assert, assertAlmostEquals, assertEquals, assertGreater } from "@std/assert";
import {
  parseMemInfo,
  parseMounts,
  readCpuTimes,
  readDiskStats,
  readLoadAvg,
  readMemInfo,
  readMounts,
  readNetDev,
  readUptime,
} from "../../src/agent/proc.ts";
import { diskUsage, readThermalZones } from "../../src/agent/sys.ts";
import { HostCollector, type Reading } from "../../src/agent/host.ts";

function find(readings: Reading[], metric: string, dims?: Record<string, string>) {
  return readings.find((r) =>
    r.metric === metric &&
    Object.entries(dims ?? {}).every(([k, v]) => r.dims?.[k] === v)
  );
}

async function fakeSys(zones: Record<string, { type?: string; temp: string }>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "cityhall-fake-sys-" });
  const dir = `${root}/class/thermal`;
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, z] of Object.entries(zones)) {
    await Deno.mkdir(`${dir}/${name}`);
    await Deno.writeTextFile(`${dir}/${name}/temp`, z.temp);
    if (z.type !== undefined) await Deno.writeTextFile(`${dir}/${name}/type`, z.type + "\n");
  }
  await Deno.mkdir(`${dir}/cooling_device0`);
  return root;
}

Deno.test("proc: the real /proc reads and agrees with what Deno reports", () => {
  const a = readCpuTimes("/proc");
  assertGreater(a.total, 0);
  assert(a.idle <= a.total);
  const b = readCpuTimes("/proc");
  assert(b.total >= a.total);
  const load = readLoadAvg("/proc");
  assertEquals(load.length, 3);
  for (const l of load) assert(l >= 0 && Number.isFinite(l));
  const mem = readMemInfo("/proc");
  assertEquals(mem.totalBytes, Deno.systemMemoryInfo().total);
  assert(mem.availableBytes > 0 && mem.availableBytes <= mem.totalBytes);
  assertAlmostEquals(readUptime("/proc"), Deno.osUptime(), 5);
  const net = readNetDev("/proc");
  assert(net.has("lo"), [...net.keys()].join(","));
  const mounts = readMounts("/proc");
  assertGreater(mounts.length, 0);
  const disks = readDiskStats("/proc");
  assertGreater(disks.size, 0);
  for (const m of mounts) assert(m.mountPoint.startsWith("/"), m.mountPoint);
  const root = mounts.find((m) => m.mountPoint === "/");
  if (root !== undefined && !root.device.startsWith("0:")) {
    assert(disks.has(root.device), `diskstats lacks ${root.device} of /`);
  }
  const use = diskUsage("/");
  assert(use.totalBytes > 0 && use.usedBytes >= 0 && use.availableBytes <= use.totalBytes);
});

Deno.test("proc: mountinfo escapes, bind mounts once, pseudo file systems left out", () => {
  const text = [
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "27 1 179:2 / / rw,noatime - ext4 /dev/mmcblk0p2 rw",
    "28 27 179:1 / /boot/firmware rw - vfat /dev/mmcblk0p1 rw",
    "29 27 8:1 / /mnt/usb\\040disk rw - exfat /dev/sda1 rw",
    "30 27 8:1 /data /srv/data rw - exfat /dev/sda1 rw",
    "31 27 0:30 / /run rw - tmpfs tmpfs rw",
    "33 27 8:17 / /media/my\\040stick rw - vfat /dev/sdb1 rw",
    "32 27 0:40 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw",
  ].join("\n");
  assertEquals(parseMounts(text), [
    { mountPoint: "/", device: "179:2", fsType: "ext4", source: "/dev/mmcblk0p2" },
    { mountPoint: "/boot/firmware", device: "179:1", fsType: "vfat", source: "/dev/mmcblk0p1" },
    { mountPoint: "/media/my stick", device: "8:17", fsType: "vfat", source: "/dev/sdb1" },
    { mountPoint: "/srv/data", device: "8:1", fsType: "exfat", source: "/dev/sda1" },
  ]);
  const old = parseMemInfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\n");
  assertEquals(old.availableBytes, 350 * 1024);
  assertEquals(old.swapTotalBytes, 0);
});

Deno.test("sys: thermal zones from a fake /sys (a Raspberry Pi's SoC and broken zones)", async () => {
  const root = await fakeSys({
    thermal_zone0: { type: "cpu-thermal", temp: "48312\n" },
    thermal_zone1: { type: "gpu-thermal", temp: "not a number" },
    thermal_zone2: { temp: "51000" },
    thermal_zone10: { type: "battery", temp: "-5000" },
  });
  try {
    assertEquals(readThermalZones(root), [
      { zone: "thermal_zone0", type: "cpu-thermal", celsius: 48.312 },
      { zone: "thermal_zone2", type: "thermal_zone2", celsius: 51 },
      { zone: "thermal_zone10", type: "battery", celsius: -5 },
    ]);
    const empty = await Deno.makeTempDir();
    assertEquals(readThermalZones(empty), []);
    await Deno.remove(empty);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("host collector: gauges at once, rates from the second tick, temperature from /sys", async () => {
  const sys = await fakeSys({ thermal_zone0: { type: "cpu-thermal", temp: "61250" } });
  try {
    const c = new HostCollector({ procRoot: "/proc", sysRoot: sys });
    const t0 = Date.now();
    const first = c.collect(t0);
    for (
      const m of [
        "load1",
        "load5",
        "load15",
        "mem_total_bytes",
        "mem_used_percent",
        "uptime_seconds",
      ]
    ) {
      assert(find(first, m) !== undefined, `no ${m}`);
    }
    assertEquals(find(first, "cpu_used_percent"), undefined);
    assertEquals(
      find(first, "temp_celsius", { zone: "thermal_zone0", type: "cpu-thermal" })?.value,
      61.25,
    );
    assert(find(first, "disk_used_percent") !== undefined, "no disk use");
    // Burn a little CPU so the second tick has something to divide.
    let x = 0;
    while (Date.now() - t0 < 300) x += Math.sqrt(x + 1);
    const second = c.collect(Date.now());
    const cpu = find(second, "cpu_used_percent")!.value;
    assert(cpu >= 0 && cpu <= 100, String(cpu));
    for (const r of second.filter((r) => r.metric.endsWith("_per_s"))) {
      assert(r.value >= 0, JSON.stringify(r));
    }
    assert(second.every((r) => r.dims?.iface !== "lo"), "loopback recorded");
    assertEquals(c.problems.size, 0, JSON.stringify([...c.problems]));
  } finally {
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("host collector: missing files leave their metrics out and are reported once", async () => {
  const proc = await Deno.makeTempDir({ prefix: "cityhall-fake-proc-" });
  try {
    await Deno.writeTextFile(`${proc}/loadavg`, "0.52 0.58 0.59 1/467 12345\n");
    await Deno.mkdir(`${proc}/self`);
    await Deno.writeTextFile(
      `${proc}/self/mountinfo`,
      "27 1 179:2 / / rw - ext4 /dev/mmcblk0p2 rw\n",
    );
    await Deno.writeTextFile(
      `${proc}/diskstats`,
      " 179       2 mmcblk0p2 100 0 2000 0 50 0 4000 0 0 0 0\n",
    );
    const c = new HostCollector({
      procRoot: proc,
      sysRoot: `${proc}/no-sys`,
      statfs: () => ({ bsize: 4096, blocks: 1000, bfree: 250, bavail: 200 }),
    });
    const r = c.collect(1000);
    assertEquals(find(r, "load1")?.value, 0.52);
    assertEquals(find(r, "disk_total_bytes", { mount: "/" })?.value, 4096_000);
    assertEquals(find(r, "disk_used_bytes", { mount: "/" })?.value, 750 * 4096);
    assertEquals(find(r, "disk_used_percent", { mount: "/" })?.value, 78.95);
    assertEquals(find(r, "cpu_used_percent"), undefined);
    assertEquals([...c.problems.keys()].sort(), ["cpu", "memory", "network", "uptime"]);
    await Deno.writeTextFile(
      `${proc}/diskstats`,
      " 179       2 mmcblk0p2 100 0 2200 0 50 0 8000 0 0 0 0\n",
    );
    const r2 = c.collect(3000);
    const dims = { mount: "/", device: "mmcblk0p2" };
    assertEquals(find(r2, "disk_read_bytes_per_s", dims)?.value, (200 * 512) / 2);
    assertEquals(find(r2, "disk_write_bytes_per_s", dims)?.value, (4000 * 512) / 2);
  } finally {
    await Deno.remove(proc, { recursive: true });
  }
});
