/**
 * A seeded generator of realistic edge-sensor data, the workload behind the compression target
 * (ARCHITECTURE.md § "Chunk format", its compression paragraph): per 20 series, 10 slowly wandering readings
 * with 1–3 decimals (temperature, humidity, pressure …), 3 counters (integers, or kWh with 3
 * decimals), 3 on/off states and 4 noisy readings (1–3 decimals, σ of 20–300 units of the last
 * digit). Timestamps are 1 s apart per series (each with its own phase), with Gaussian jitter
 * of σ 1.5 ms, 0.5% of samples 5–40 ms late and 0.1% missing.
 */

import { Rng } from "./random.ts";

/** One generated series. */
export interface SensorSeries {
  /** A name like `sensor_7`. */
  name: string;
  /** `wander`, `counter`, `onoff` or `noisy`. */
  kind: string;
  /** Decimal digits of its values. */
  decimals: number;
  /** Timestamps (ms). */
  ts: number[];
  /** Values. */
  values: number[];
}

/** Standard normal draw (Box–Muller). */
function gauss(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/** `count` series of `seconds` seconds at 1 Hz starting at `startMs`, from `seed`. */
export function generateSensors(
  seed: number,
  count: number,
  seconds: number,
  startMs = 1_700_000_000_000,
): SensorSeries[] {
  const rng = new Rng(seed);
  const out: SensorSeries[] = [];
  for (let s = 0; s < count; s++) {
    const r = s % 20;
    const kind = r < 10 ? "wander" : r < 13 ? "counter" : r < 16 ? "onoff" : "noisy";
    const phase = rng.int(1000);
    const decimals = 1 + rng.int(3);
    const scale = 10 ** decimals;
    let x = 20 + rng.next() * 200;
    const mu = x;
    const sigma = (0.2 + rng.next() * 1.3) / scale;
    let count = rng.int(100_000);
    const lambda = 0.2 + rng.next() * 3;
    let state = rng.int(2);
    const flip = 1 / (300 + rng.int(3300));
    const noise = (20 + rng.next() * 280) / scale;
    const ts: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < seconds; i++) {
      if (rng.next() < 0.001) continue;
      let jitter = Math.round(gauss(rng) * 1.5);
      if (rng.next() < 0.005) jitter += 5 + rng.int(35);
      ts.push(startMs + phase + i * 1000 + jitter);
      let v: number;
      if (kind === "wander") {
        x += 0.001 * (mu - x) + sigma * gauss(rng);
        v = Math.round(x * scale) / scale;
      } else if (kind === "counter") {
        let k = 0;
        let p = Math.exp(-lambda);
        let c = p;
        const u = rng.next();
        while (u > c && k < 50) {
          k++;
          p *= lambda / k;
          c += p;
        }
        count += k;
        v = decimals === 3 ? count / 1000 : count;
      } else if (kind === "onoff") {
        if (rng.next() < flip) state = 1 - state;
        v = state;
      } else v = Math.round((mu + noise * gauss(rng)) * scale) / scale;
      values.push(v);
    }
    out.push({ name: `sensor_${s}`, kind, decimals: kind === "onoff" ? 0 : decimals, ts, values });
  }
  return out;
}
