// @ts-check
// Formatting numbers, money, durations and times for display.

const intFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return intFormat.format(Number(n));
}

/** Compact token counts: 950, 12.3k, 4.1M. */
export function fmtTokens(n) {
  if (n === null || n === undefined) return "–";
  const v = Number(n);
  if (Math.abs(v) < 10000) return fmtInt(v);
  if (Math.abs(v) < 1e6) return (v / 1e3).toFixed(v < 1e5 ? 1 : 0) + "k";
  if (Math.abs(v) < 1e9) return (v / 1e6).toFixed(v < 1e8 ? 2 : 1) + "M";
  return (v / 1e9).toFixed(2) + "B";
}

/** USD with enough precision for per-call costs: $0.00035, $0.0075, $0.0158, $1.23, $1,234. */
export function fmtCost(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  const v = Number(n);
  if (v === 0) return "$0";
  const abs = Math.abs(v);
  const strip = (text) => (text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  if (abs < 0.01) return "$" + strip(v.toPrecision(2)); // small costs keep two significant digits
  if (abs < 1) return "$" + strip(v.toFixed(4));
  if (abs < 1000) return "$" + v.toFixed(2);
  return "$" + intFormat.format(Math.round(v));
}

/** Durations: 850 ms, 3.2 s, 4 min 05 s, 2 h 03 min. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "–";
  const v = Number(ms);
  if (v < 1) return v === 0 ? "0 ms" : v.toFixed(2) + " ms";
  if (v < 1000) return Math.round(v) + " ms";
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + " s";
  const totalS = Math.round(v / 1000);
  if (totalS < 3600) return Math.floor(totalS / 60) + " min " + String(totalS % 60).padStart(2, "0") + " s";
  const totalMin = Math.round(totalS / 60);
  return Math.floor(totalMin / 60) + " h " + String(totalMin % 60).padStart(2, "0") + " min";
}

export function fmtPct(p, digits = 1) {
  if (p === null || p === undefined || Number.isNaN(Number(p))) return "–";
  return Number(p).toFixed(digits) + "%";
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** An ISO time as local "YYYY-MM-DD HH:MM:SS". */
export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return (
    d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds())
  );
}

/** "3 min ago", "2 days ago". */
export function fmtAgo(iso) {
  if (!iso) return "";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

export function toMs(iso) {
  if (!iso) return null;
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? null : t;
}

/** A value shown as one line of text (objects as compact JSON). */
export function oneLine(value, max = 160) {
  if (value === null || value === undefined) return "";
  let text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) text = String(value);
  text = text.replace(/\s+/g, " ").trim();
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

export function pretty(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch (e) {
    return String(value);
  }
}
