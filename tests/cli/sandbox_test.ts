/**
 * The generated unit's sandbox does not break the server: a leader and its replica run under
 * the parts of it that can be reproduced without systemd, taken from the generated unit
 * itself, and still write, fsync, flush, replicate over TCP and shut down cleanly.
 *
 * Reproduced (root is needed for the namespaces; the tests and CI run as root):
 * - `SystemCallFilter=@system-service` `~@privileged` with `SystemCallErrorNumber=EPERM`, and
 *   `RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX`: a seccomp filter (libseccomp through
 *   /usr/bin/python3) built from `systemd-analyze syscall-filter`'s lists;
 * - `ProtectSystem=strict`: the root file system remounted read-only in a private mount
 *   namespace, with the data directory bound writable;
 * - `ProtectProc=invisible` `ProcSubset=pid`: a /proc of the service's own pid namespace that
 *   shows processes only;
 * - `CapabilityBoundingSet=` `NoNewPrivileges=yes`: `setpriv`; `UMask=0077`: `umask`.
 * Not reproduced: the dynamic user (deno lives under /root here), PrivateTmp/PrivateDevices
 * and the other namespaces.
 */

import { assert, assertEquals } from "@std/assert";
import { runCli, startServe, tempDir } from "./_helpers.ts";
import { runChild, runDeno } from "../_helpers/child.ts";

/** Loads a seccomp filter (allow-list in $SYSCALLS, EPERM otherwise) and execs argv[1:]. */
const SECCOMP_PY = `
import ctypes, os, sys
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
ctx = lib.seccomp_init(EPERM)
for name in os.environ["SYSCALLS"].split():
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr != -1 and name != "socket":
        lib.seccomp_rule_add_array(ctx, ALLOW, nr, 0, None)
socket = lib.seccomp_syscall_resolve_name(b"socket")
for family in [int(f) for f in os.environ["FAMILIES"].split()]:
    if lib.seccomp_rule_add_array(ctx, ALLOW, socket, 1, ctypes.byref(Cmp(0, 4, family, 0))) != 0:
        sys.exit("seccomp: cannot add the socket rule")
if lib.seccomp_load(ctx) != 0:
    sys.exit("seccomp: cannot load the filter")
os.execv(sys.argv[1], sys.argv[1:])
`;

const FAMILY_NUMBERS: Record<string, number> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10 };

/** The system calls of a `systemd-analyze syscall-filter` group, nested groups expanded. */
async function expandGroup(group: string, seen = new Set<string>()): Promise<Set<string>> {
  const out = await runChild("systemd-analyze", ["syscall-filter", "--no-pager", group], {
    stderr: "null",
  });
  assert(out.success, `systemd-analyze syscall-filter ${group}`);
  const calls = new Set<string>();
  seen.add(group);
  const lines = out.stdout.split("\n").slice(1);
  for (const raw of lines) {
    const word = raw.trim();
    if (word === "" || word.startsWith("#")) continue;
    if (word.startsWith("@")) {
      if (!seen.has(word)) { for (const c of await expandGroup(word, seen)) calls.add(c); }
    } else calls.add(word);
  }
  return calls;
}

/** The seccomp allow-list and socket families the unit's settings describe. */
async function filterOf(unit: string): Promise<{ syscalls: string[]; families: number[] }> {
  const allowed = new Set<string>();
  const families: number[] = [];
  for (const line of unit.split("\n")) {
    const filter = /^SystemCallFilter=(~?)(.*)$/.exec(line);
    if (filter !== null) {
      for (const group of filter[2]!.trim().split(/\s+/)) {
        const calls = group.startsWith("@") ? await expandGroup(group) : new Set([group]);
        for (const c of calls) filter[1] === "~" ? allowed.delete(c) : allowed.add(c);
      }
    }
    const af = /^RestrictAddressFamilies=(.*)$/.exec(line);
    if (af !== null) {
      for (const name of af[1]!.trim().split(/\s+/)) families.push(FAMILY_NUMBERS[name]!);
    }
  }
  assert(allowed.has("fdatasync") && allowed.has("socket"), "filter parsed");
  return { syscalls: [...allowed], families };
}

/** The wrapper that runs deno in the reproduced sandbox with `dataDir` writable. */
function sandbox(dataDir: string, filter: { syscalls: string[]; families: number[] }): string[] {
  const script = [
    "set -e",
    "mount --make-rprivate /",
    "mount -t proc -o subset=pid,hidepid=invisible proc /proc",
    'mount --bind "$DATA" "$DATA"',
    "mount -o remount,bind,ro /",
    "umask 0077",
    'exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- /usr/bin/python3 -c "$SECCOMP" "$@"',
  ].join("\n");
  return [
    "unshare",
    "--mount",
    "--pid",
    "--fork",
    "--kill-child=SIGKILL",
    "env",
    `DATA=${dataDir}`,
    `SECCOMP=${SECCOMP_PY}`,
    `SYSCALLS=${filter.syscalls.join(" ")}`,
    `FAMILIES=${filter.families.join(" ")}`,
    "sh",
    "-c",
    script,
    "sh",
  ];
}

async function shutdown(port: number): Promise<void> {
  const r = await runCli(["client", "--port", String(port)], { stdin: "SHUTDOWN\n" });
  assert(r.code === 0 || r.code === 1, r.stderr); // The connection may close before a reply.
}

Deno.test("the generated unit's sandbox (seccomp, read-only OS, /proc subset, no capabilities) runs a leader and its replica", async () => {
  const unit = await runCli(["service", "print", "--exec", "/usr/local/bin/cityhall"]);
  assertEquals(unit.code, 0, unit.stderr);
  const filter = await filterOf(unit.stdout);
  const [root, cleanup] = await tempDir();
  const leaderDir = `${root}/leader`;
  const replicaDir = `${root}/replica`;
  await Deno.mkdir(leaderDir, { mode: 0o700 });
  await Deno.mkdir(replicaDir, { mode: 0o700 });
  const leader = await startServe(leaderDir, ["--replication-port", "0", "--memtable-mb", "1"], {
    command: "leader",
    wrapper: sandbox(leaderDir, filter),
  });
  let replica: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    const replicationPort = /replication=\S+:(\d+)/.exec(leader.log())?.[1];
    assert(replicationPort !== undefined, leader.log());
    replica = await startServe(replicaDir, ["--leader", `127.0.0.1:${replicationPort}`], {
      command: "replica",
      wrapper: sandbox(replicaDir, filter),
    });
    const port = String(leader.port);
    // Enough data for memtable flushes (SSTables, fsync of files and directories).
    const lines = Array.from({ length: 300 }, (_, i) => `SET k${i} ${"v".repeat(8000)}`);
    let r = await runCli(["client", "--port", port], { stdin: lines.join("\n") + "\nSAVE\n" });
    assertEquals(r.code, 0, r.stderr);
    r = await runCli(["client", "--port", port, "info", "cityhall"]);
    assert(/flushes:[1-9]/.test(r.stdout), r.stdout);
    const deadline = Date.now() + 60_000;
    for (;;) {
      r = await runCli(["client", "--port", String(replica.port), "get", "k299"]);
      if (r.code === 0) break;
      assert(Date.now() < deadline, `the replica never caught up:\n${replica.log()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assertEquals(r.stdout, "v".repeat(8000) + "\n");
  } finally {
    if (replica !== undefined) {
      await shutdown(replica.port);
      assertEquals(await replica.exited, 0, replica.log());
    }
    await shutdown(leader.port);
    assertEquals(await leader.exited, 0, leader.log());
    await cleanup();
  }
  for (const log of [leader.log(), replica?.log() ?? ""]) {
    assert(!/level=error/.test(log), log);
  }
});

Deno.test("the reproduced sandbox is in force: read-only OS, no /proc/meminfo, no netlink, 0600 files", async () => {
  const unit = await runCli(["service", "print", "--exec", "/usr/local/bin/cityhall"]);
  const filter = await filterOf(unit.stdout);
  const [dir, cleanup] = await tempDir();
  try {
    const probe = `
      const tryIt = (f) => { try { f(); return "allowed"; } catch (e) { return e.code ?? e.name; } };
      const fs = await import("node:fs");
      const net = await import("node:net");
      console.log(JSON.stringify({
        writeOutside: tryIt(() => Deno.writeTextFileSync(${
      JSON.stringify(`${dir}/../outside`)
    }, "x")),
        writeData: tryIt(() => Deno.writeTextFileSync(${JSON.stringify(`${dir}/inside`)}, "x")),
        mode: (Deno.statSync(${JSON.stringify(`${dir}/inside`)}).mode & 0o777).toString(8),
        meminfo: tryIt(() => Deno.readTextFileSync("/proc/meminfo")),
        self: tryIt(() => Deno.readTextFileSync("/proc/self/status")),
        listen: tryIt(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close()),
        netlink: tryIt(() => Deno.networkInterfaces()),
      }));`;
    const wrapper = sandbox(dir, filter);
    const out = await runDeno(["eval", probe], { wrapper });
    assertEquals(out.code, 0, out.stderr);
    const seen = JSON.parse(out.stdout);
    assertEquals(seen, {
      writeOutside: "EROFS",
      writeData: "allowed",
      mode: "600",
      meminfo: "ENOENT",
      self: "allowed",
      listen: "allowed",
      netlink: "EPERM",
    });
  } finally {
    await cleanup();
  }
});
