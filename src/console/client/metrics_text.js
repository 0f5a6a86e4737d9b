// Reading the server's /metrics (Prometheus text format 0.0.4) in the browser: samples with
// labels, summed histograms and quantiles between two scrapes. No DOM: the Deno tests import
// this file directly.

/** Parses the text into `[{ name, labels, value }]` (comments and blank lines skipped). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === "{") {
      i++;
      while (i < line.length && line[i] !== "}") {
        const eq = line.indexOf("=", i);
        const label = line.slice(i, eq).trim();
        let j = eq + 2;
        let value = "";
        while (j < line.length && line[j] !== '"') {
          if (line[j] === "\\") {
            const next = line[j + 1];
            value += next === "n" ? "\n" : next;
            j += 2;
          } else value += line[j++];
        }
        labels[label] = value;
        i = j + 1;
        if (line[i] === ",") i++;
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = rest[0] === "+Inf" ? Infinity : rest[0] === "-Inf" ? -Infinity : Number(rest[0]);
    out.push({ name, labels, value });
  }
  return out;
}

/** Sum of every sample called `name` (all label sets). */
export function sum(samples, name) {
  let total = 0;
  for (const s of samples) if (s.name === name) total += s.value;
  return total;
}

/**
 * One histogram summed over every label set but `le`: `{ bounds, cumulative, count, sum }`
 * with ascending bounds (the last one +Inf).
 */
export function histogram(samples, name) {
  const byLe = new Map();
  let count = 0;
  let total = 0;
  for (const s of samples) {
    if (s.name === `${name}_bucket`) {
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    } else if (s.name === `${name}_count`) count += s.value;
    else if (s.name === `${name}_sum`) total += s.value;
  }
  const bounds = [...byLe.keys()].sort((a, b) => a - b);
  return { bounds, cumulative: bounds.map((b) => byLe.get(b)), count, sum: total };
}

/** `now − before`, bucket by bucket (what happened between two scrapes). */
export function histogramDelta(now, before) {
  if (before === undefined || before.bounds.length !== now.bounds.length) return now;
  return {
    bounds: now.bounds,
    cumulative: now.cumulative.map((c, i) => Math.max(0, c - (before.cumulative[i] ?? 0))),
    count: Math.max(0, now.count - before.count),
    sum: Math.max(0, now.sum - before.sum),
  };
}

/**
 * The q-quantile (0…1) of a histogram, interpolating linearly inside the bucket, as PromQL's
 * `histogram_quantile` does; NaN without observations. A quantile in the +Inf bucket answers the
 * highest finite bound.
 */
export function quantile(hist, q) {
  const n = hist.cumulative[hist.cumulative.length - 1] ?? 0;
  if (n === 0) return NaN;
  const rank = q * n;
  for (let i = 0; i < hist.bounds.length; i++) {
    if (hist.cumulative[i] >= rank) {
      const upper = hist.bounds[i];
      const lower = i === 0 ? 0 : hist.bounds[i - 1];
      if (upper === Infinity) return lower;
      const below = i === 0 ? 0 : hist.cumulative[i - 1];
      const inBucket = hist.cumulative[i] - below;
      return inBucket === 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
    }
  }
  return hist.bounds[hist.bounds.length - 2] ?? NaN;
}
