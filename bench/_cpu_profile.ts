/**
 * A sampling CPU profile (V8's, through `node:inspector`) of what `fn` runs, written to `path`
 * as a `.cpuprofile` (Chrome DevTools opens it): the CPU benches' `--cpu-prof` option.
 *
 * @module
 */

/** Runs `fn` under V8's sampling profiler (one sample every 50 us), writes the profile to `path`. */
export async function withCpuProfile<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const { Session } = await import("node:inspector");
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(
        method,
        params ?? {},
        (err: unknown, res: unknown) => err ? reject(err) : resolve(res),
      )
    );
  try {
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 50 });
    await post("Profiler.start");
    const result = await fn();
    const res = await post("Profiler.stop") as { profile: unknown };
    Deno.writeTextFileSync(path, JSON.stringify(res.profile));
    return result;
  } finally {
    session.disconnect();
  }
}
