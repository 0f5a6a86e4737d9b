/**
 * The child-process helper itself (`tests/_helpers/child.ts`): output captured, stdin fed, a
 * line waited for (also one printed before the wait), a child that exits first or stays
 * silent rejected with its output, kill -9, `killAfterMs`, and `await using` cleanup.
 */

import { assert, assertEquals, assertRejects } from "@std/assert";
import { runChild, spawnChild } from "./child.ts";

Deno.test("runChild() captures stdout, stderr, bytes and the exit code; stdin is fed", async () => {
  const r = await runChild("sh", ["-c", "cat; echo err >&2; exit 3"], { stdin: "in\n" });
  assertEquals([r.code, r.success, r.stdout, r.stderr], [3, false, "in\n", "err\n"]);
  assertEquals(r.stdoutBytes, new TextEncoder().encode("in\n"));
  const env = await runChild("sh", ["-c", "echo $A-$HOME"], { env: { A: "x" }, clearEnv: true });
  assertEquals(env.stdout, "x-\n");
});

Deno.test("Child.waitForLine() sees earlier lines, later lines, and gives the RegExp match", async () => {
  await using child = spawnChild("sh", ["-c", "echo one; sleep 0.2; echo 'port=42' >&2; sleep 30"]);
  assertEquals((await child.waitForLine("one", { stream: "stdout" })).line, "one");
  const { match } = await child.waitForLine(/port=(\d+)/);
  assertEquals(match?.[1], "42");
  const r = await child.kill();
  assertEquals(r.signal, "SIGKILL");
});

Deno.test("Child.waitForLine() rejects with the output when the child exits first or times out", async () => {
  const quits = spawnChild("sh", ["-c", "echo bye >&2"]);
  const err = await assertRejects(() => quits.waitForLine("never"));
  assert(String(err).includes("exited (code 0)") && String(err).includes("bye"), String(err));
  await using silent = spawnChild("sleep", ["30"]);
  await assertRejects(() => silent.waitForLine("x", { timeoutMs: 100 }), Error, "printed no line");
});

Deno.test("killAfterMs and await using end a child that would run on", async () => {
  const r = await runChild("sleep", ["30"], { killAfterMs: 100 });
  assertEquals(r.signal, "SIGKILL");
  let pid = 0;
  {
    await using child = spawnChild("sleep", ["30"]);
    pid = child.pid;
  }
  // Gone: signal 0 to a reaped pid fails.
  assertEquals(pid > 0, true);
  const alive = await runChild("sh", [
    "-c",
    `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`,
  ]);
  assertEquals(alive.stdout, "gone\n");
});
