/**
 * V8's sampling profilers through `node:inspector`, for the CPU benches' `--cpu-prof` and
 * `--heap-prof` options: the profile of what `fn` runs, written to `path` (`.cpuprofile` and
 * `.heapprofile`, which Chrome DevTools opens).
 *
 * @module
 */

/** Runs `fn` with an inspector session whose `post` sends one protocol command. */
async function withSession<T>(
  fn: (post: (method: string, params?: object) => Promise<unknown>) => Promise<T>,
): Promise<T> {
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
    return await fn(post);
  } finally {
    session.disconnect();
  }
}

/** Runs `fn` under V8's sampling CPU profiler (one sample every 50 us); the profile to `path`. */
export function withCpuProfile<T>(path: string, fn: () => Promise<T>): Promise<T> {
  return withSession(async (post) => {
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 50 });
    await post("Profiler.start");
    const result = await fn();
    const res = await post("Profiler.stop") as { profile: unknown };
    Deno.writeTextFileSync(path, JSON.stringify(res.profile));
    return result;
  });
}

/**
 * Runs `fn` under V8's sampling heap profiler (every 256 bytes, objects the GC collected
 * included: where the run allocates); the profile to `path`.
 */
export function withHeapProfile<T>(path: string, fn: () => Promise<T>): Promise<T> {
  return withSession(async (post) => {
    await post("HeapProfiler.enable");
    await post("HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const result = await fn();
    const res = await post("HeapProfiler.stopSampling") as { profile: unknown };
    Deno.writeTextFileSync(path, JSON.stringify(res.profile));
    return result;
  });
}
