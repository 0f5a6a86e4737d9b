/**
 * Stopping a daemon that npm started. `npx -y deno@2.9.6 task start` runs
 * `npm exec` -> `sh` -> `deno task` -> `deno run ... serve`; `kill $!` signals npm, which exits
 * without passing the signal on, and the server would keep running with nobody to stop it.
 * (`deno task` itself passes SIGTERM and SIGINT to its child, so `deno task start` stops.)
 *
 * So when npm's environment says npm started us (`npm_lifecycle_event`, `npm_command`), the
 * daemon finds the npm process among its ancestors (Linux `/proc`) and checks every
 * `LAUNCHER_POLL_INTERVAL_MS` that it is still there, the same process (its start time), and
 * shuts down gracefully once it is gone: the same as a SIGTERM. Started any other way (a
 * shell, nohup, systemd) nothing is watched: a daemon must outlive the shell that started it.
 *
 * @module
 */

/** How often the npm process is checked: a stop is noticed within this time. */
export const LAUNCHER_POLL_INTERVAL_MS = 500;
/** Most ancestors walked looking for npm (a process tree is not deeper than this). */
const ANCESTORS_MAX = 32;

/** A process as `/proc/PID/stat` describes it. */
interface ProcInfo {
  /** R, S, D, ... ; Z (zombie) and X (dead) have exited. */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot: tells a process from a later one with its pid. */
  startTicks: string;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the
    // last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(fields[1]);
    const startTicks = fields[19];
    if (!Number.isSafeInteger(ppid) || startTicks === undefined) return undefined;
    return { state: fields[0] ?? "", ppid, startTicks };
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((s) => s !== "");
  } catch {
    return [];
  }
}

/** True for npm's own process: titled "npm exec ..."/"npm run ...", or node running npm-cli.js. */
export function isNpmCommandLine(argv: readonly string[]): boolean {
  const first = argv[0] ?? "";
  if (first === "npm" || first.startsWith("npm ") || first.endsWith("/npm")) return true;
  return argv.slice(0, 2).some((a) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(a));
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The npm process this one descends from, when npm started it; undefined otherwise. */
export function findNpmAncestor(): { pid: number; startTicks: string } | undefined {
  if (env("npm_lifecycle_event") === undefined && env("npm_command") === undefined) {
    return undefined;
  }
  if (Deno.build.os !== "linux") return undefined; // No /proc to walk.
  let pid = Deno.ppid;
  for (let i = 0; i < ANCESTORS_MAX && pid > 1; i++) {
    const info = readProc(pid);
    if (info === undefined) return undefined;
    if (isNpmCommandLine(commandLine(pid))) return { pid, startTicks: info.startTicks };
    pid = info.ppid;
  }
  return undefined;
}

/**
 * Calls `onGone` once when the npm process that started this one exits. Returns a stopper,
 * or undefined when npm did not start this process (then nothing is watched).
 */
export function watchLauncher(onGone: (pid: number) => void): { stop(): void } | undefined {
  const npm = findNpmAncestor();
  if (npm === undefined) return undefined;
  const timer = setInterval(() => {
    const now = readProc(npm.pid);
    const alive = now !== undefined && now.state !== "Z" && now.state !== "X";
    if (alive && now.startTicks === npm.startTicks) return;
    clearInterval(timer);
    onGone(npm.pid);
  }, LAUNCHER_POLL_INTERVAL_MS);
  // The watch alone must not keep the process alive.
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}
