// Number, size, duration and time formatting for the console.

/** `1536` → `1.5 KiB`. */
export function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? "-" : ""}${v.toFixed(digits)} ${units[i]}`;
}

/** A count with thousands separators. */
export function count(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** A rate or measurement with 3 significant digits. */
export function num(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  if (n === 0) return "0";
  const a = Math.abs(n);
  if (a >= 1000) return count(n);
  return Number(n.toPrecision(3)).toString();
}

/** Seconds as `3d 4h`, `2h 5m`, `4m 10s`, `12.3s`. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${m % 60}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

/** Milliseconds as a latency: `0.42 ms`, `12 ms`, `1.2 s`. */
export function latencyMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Number(ms.toPrecision(2))} ms`;
}

/** Unix ms as local `YYYY-MM-DD HH:MM:SS`. */
export function time(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "–";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Unix ms as the value of an `<input type="datetime-local">`. */
export function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

/** `"15m"`, `"1h"`, `"7d"`, `"500ms"`, `"30s"` → milliseconds; NaN when malformed. */
export function parseDuration(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(String(text).trim());
  if (m === null) return NaN;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2]];
  return Math.round(Number(m[1]) * unit);
}

/** Milliseconds as the shortest exact duration text (`60000` → `1m`). */
export function formatDuration(ms) {
  for (const [unit, size] of [["d", 86400e3], ["h", 3600e3], ["m", 60e3], ["s", 1e3]]) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
