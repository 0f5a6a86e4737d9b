/**
 * Stopping the documented ways of starting: `npx -y deno@2.9.6 task start` then `kill $!`
 * signals npm, which exits without passing SIGTERM on; the server notices that npm is gone
 * and shuts down gracefully. Started any other way, the death of its parent does not stop it.
 */

import { assert, assertEquals } from "@std/assert";
import { isNpmCommandLine } from "../../src/cli/_launcher.ts";
import { Database } from "../../src/mod.ts";
import { fromBytes } from "../../src/util/bytes.ts";
import { MAIN, runCli, tempDir } from "./_helpers.ts";
import { spawnChild } from "../_helpers/child.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A process whose stderr is collected, with a way to wait for a line. */
function spawnLogged(program: string, args: string[], env: Record<string, string> = {}) {
  const proc = spawnChild(program, args, {
    cwd: ROOT,
    env,
    // Only what is given: a test run started by npm must not make every child look npm-born.
    clearEnv: true,
    stdout: "null",
    // The daemon this child starts holds stderr too: read until it is gone.
    pipeGraceMs: Infinity,
  });
  return {
    child: proc.process,
    log: () => proc.stderr,
    /** Resolves once every holder of stderr (the daemon included) has exited. */
    done: proc.exited.then(() => {}),
    async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
      return (await proc.waitForLine(pattern, { timeoutMs })).match!;
    },
  };
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\S+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    assert(Date.now() < deadline, `process ${pid} still running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function putThenCheck(port: string, dir: string, stop: () => Promise<void>) {
  const r = await runCli(["client", "--port", port, "put", "stop.key", "kept"]);
  assertEquals(r.code, 0, r.stderr);
  await stop();
  const db = await Database.open(dir);
  try {
    assertEquals(fromBytes((await db.get("stop.key"))!), "kept");
  } finally {
    await db.close();
  }
}

const LISTENING = /msg="listening" resp=\S+:(\d+) .* pid=(\d+)/;

Deno.test("npx -y deno@2.9.6 task start stops gracefully after kill of npx", async () => {
  const [dir, cleanup] = await tempDir();
  const npx = spawnLogged("npx", [
    "-y",
    "deno@2.9.6",
    "task",
    "start",
    "--data-dir",
    dir,
    "--port",
    "0",
    "--http-port",
    "0",
  ], { ...Deno.env.toObject() });
  try {
    const [, port, pid] = await npx.waitFor(LISTENING, 180_000);
    await putThenCheck(port!, dir, async () => {
      npx.child.kill("SIGTERM"); // kill $!: npx does not pass it on.
      await npx.child.status;
      await waitGone(Number(pid), 60_000);
    });
    await npx.done;
    assert(/msg="shutting down" reason="npm exited"/.test(npx.log()), npx.log());
    assert(/msg="stopped" code=0/.test(npx.log()), npx.log());
  } finally {
    try {
      npx.child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await cleanup();
  }
});

/** A bash titled "npm exec test" that starts serve in the background and waits, like npm. */
function fakeNpm(dir: string, env: Record<string, string>) {
  const script = `exec -a "npm exec test" bash -c '"$0" run -A --quiet "$1" serve ` +
    `--data-dir "$2" --port 0 --http-port 0 & wait' "$0" "$@"`;
  const keep: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) keep[name] = value;
  }
  return spawnLogged("bash", ["-c", script, Deno.execPath(), MAIN, dir], { ...keep, ...env });
}

Deno.test("serve started under npm shuts down gracefully when npm exits; started otherwise it keeps running", async () => {
  for (const underNpm of [true, false]) {
    const [dir, cleanup] = await tempDir();
    const parent = fakeNpm(
      dir,
      underNpm ? { npm_command: "exec", npm_lifecycle_event: "npx" } : {},
    );
    let pid = 0;
    try {
      const [, port, p] = await parent.waitFor(LISTENING, 60_000);
      pid = Number(p);
      if (underNpm) {
        await putThenCheck(port!, dir, async () => {
          parent.child.kill("SIGTERM");
          await parent.child.status;
          await waitGone(pid, 60_000);
        });
        await parent.done;
        assert(/reason="npm exited"/.test(parent.log()), parent.log());
        assert(/msg="stopped" code=0/.test(parent.log()), parent.log());
      } else {
        parent.child.kill("SIGTERM");
        await parent.child.status;
        // Not started by npm: the parent's death is no reason to stop (nohup, a shell).
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assert(alive(pid), parent.log());
        Deno.kill(pid, "SIGTERM");
        await waitGone(pid, 60_000);
        await parent.done;
        assert(/reason=SIGTERM/.test(parent.log()), parent.log());
      }
    } finally {
      if (pid > 0 && alive(pid)) Deno.kill(pid, "SIGKILL");
      await cleanup();
    }
  }
});

Deno.test("isNpmCommandLine knows npm's process titles and npm-cli.js", () => {
  assert(isNpmCommandLine(["npm exec deno@2.9.6 task start"]));
  assert(isNpmCommandLine(["npm", "run", "start"]));
  assert(isNpmCommandLine(["/usr/bin/node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "exec"]));
  assert(isNpmCommandLine(["node", "/usr/bin/npx", "-y", "deno"]));
  assert(!isNpmCommandLine(["deno", "task", "start"]));
  assert(!isNpmCommandLine(["sh", "-c", "deno task start"]));
  assert(!isNpmCommandLine([]));
});
