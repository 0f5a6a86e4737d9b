/**
 * The pre-authentication memory attack of issue 8.2, measured: starts `cityhall leader` with a
 * token, opens six replication connections that each declare a 75 MiB DATA body before HELLO and
 * send up to 74 MiB of it, and prints the leader's RSS before, after, and 2 s after they close.
 *
 *   deno run -A bench/preauth_rss.ts [path/to/src/main.ts]
 *
 * The argument lets the same script measure another checkout (e.g. one before the fix).
 *
 * @module
 */

const MiB = 1024 * 1024;
const main = Deno.args[0] ?? new URL("../src/main.ts", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "cityhall-preauth-rss-" });
await Deno.writeTextFile(`${dir}.token`, "preauth-rss-token");
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    "--quiet",
    main,
    "leader",
    "--data-dir",
    dir,
    "--port",
    "0",
    "--http-port",
    "0",
    "--replication-port",
    "0",
    "--auth-token-file",
    `${dir}.token`,
  ],
  stdout: "null",
  stderr: "piped",
}).spawn();
const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
let text = "";
for (let i = 0; i < 10_000 && !/replication=\S+:(\d+)/.test(text); i++) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`the leader exited:\n${text}`);
  text += value;
}
void (async () => {
  while (!(await reader.read()).done) {
    // Drain the log.
  }
})();
const port = Number(/replication=\S+:(\d+)/.exec(text)![1]);
const rssMiB = () =>
  Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`))![1]) / 1024;

await new Promise((r) => setTimeout(r, 500));
const before = rssMiB();
const connections = await Promise.all(Array.from({ length: 6 }, async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const header = new Uint8Array(12);
  header[0] = 5; // DATA, before any HELLO
  new DataView(header.buffer).setUint32(4, 75 * MiB, true);
  let sent = 0;
  try {
    await conn.write(header);
    const chunk = new Uint8Array(MiB);
    for (let i = 0; i < 74; i++) {
      let off = 0;
      while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      sent += chunk.length;
    }
  } catch {
    // Closed by the leader.
  }
  return { conn, sent };
}));
await new Promise((r) => setTimeout(r, 1000));
const after = rssMiB();
for (const { conn } of connections) {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
await new Promise((r) => setTimeout(r, 2000));
const later = rssMiB();
console.log(
  `leader RSS: ${before.toFixed(1)} MiB before, ${
    after.toFixed(1)
  } MiB with 6 pre-auth 75 MiB DATA frames, ${later.toFixed(1)} MiB 2 s after they closed; ` +
    `bytes written per connection before the leader closed it: ${
      connections.map((c) => `${(c.sent / MiB).toFixed(0)} MiB`).join(", ")
    }`,
);
child.kill("SIGKILL");
await child.status;
await Deno.remove(dir, { recursive: true });
await Deno.remove(`${dir}.token`);
