/**
 * Fleet processes for tests: `cityhall hub` and `cityhall serve --uplink` as real children,
 * their ports read from their `listening` line, killed with SIGKILL or stopped with SIGTERM.
 *
 * @module
 */

import { runCli } from "../cli/_helpers.ts";
import { spawnCityhall } from "../_helpers/child.ts";

/** A running hub or edge process. */
export interface FleetProcess {
  child: Deno.ChildProcess;
  /** RESP port. */
  port: number;
  /** HTTP port, when it serves HTTP. */
  httpPort: number | undefined;
  /** Everything it logged so far. */
  log(): string;
  exited: Promise<number>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Link timings that make cuts and stalls cheap in tests (`CITYHALL_SYNC_TIMING`). */
export const FAST_TIMING = "heartbeat=200,idle=1500,handshake=3000,backoff=20-300";

/** Spawns `cityhall ARGS…` as a daemon and waits for its `listening` line. */
export async function spawnDaemon(
  args: string[],
  env: Record<string, string> = {},
): Promise<FleetProcess> {
  const proc = spawnCityhall(args, {
    stdout: "null",
    env: { ...env, CITYHALL_SYNC_TIMING: env.CITYHALL_SYNC_TIMING ?? FAST_TIMING },
  });
  let listening;
  try {
    listening = await proc.waitForListening();
  } catch (err) {
    await proc.kill();
    throw new Error(`cityhall ${args.join(" ")} exited before listening:\n${proc.stderr}`, {
      cause: err,
    });
  }
  return {
    child: proc.process,
    port: listening.port("resp")!,
    httpPort: listening.port("http"),
    log: () => proc.stderr,
    exited: proc.exited.then((r) => r.code),
    async stop(signal: Deno.Signal = "SIGTERM") {
      return (await proc.kill(signal)).code;
    },
  };
}

/** `cityhall hub` on `dir` with its sync listener on `syncPort`. */
export function spawnHub(
  dir: string,
  syncPort: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<FleetProcess> {
  return spawnDaemon(
    [
      "hub",
      "--data-dir",
      dir,
      "--port",
      "0",
      "--no-http",
      "--sync-port",
      String(syncPort),
      ...extra,
    ],
    env,
  );
}

/** `cityhall serve --uplink 127.0.0.1:PORT --site SITE` on `dir`. */
export function spawnEdge(
  dir: string,
  hubPort: number,
  site: string,
  tokenFile: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<FleetProcess> {
  return spawnDaemon([
    "serve",
    "--data-dir",
    dir,
    "--port",
    "0",
    "--no-http",
    "--uplink",
    `127.0.0.1:${hubPort}`,
    "--site",
    site,
    "--uplink-token-file",
    tokenFile,
    ...extra,
  ], env);
}

/** `cityhall hub site add SITE` on `hubDir`; writes the token to `dir/SITE.token`, its path. */
export async function addSiteCli(hubDir: string, site: string, dir: string): Promise<string> {
  const out = await runCli(["hub", "site", "add", site, "--data-dir", hubDir]);
  if (out.code !== 0) throw new Error(`hub site add failed: ${out.stderr}`);
  const path = `${dir}/${site}.token`;
  await Deno.writeTextFile(path, out.stdout.trim() + "\n");
  return path;
}
