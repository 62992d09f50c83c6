// @ts-check
// SVG charts: horizontal bars, day columns, a context-window gauge and a utilization line.
// Labels are SVG <text> nodes filled with text, never markup.

import { h, replace, s } from "./dom.js";
import { fmtPct } from "./format.js";

function truncate(text, max) {
  const t = String(text);
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}

/** The smallest "nice" number (1, 2, 2.5, 5 x 10^k) at or above v. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/**
 * A figure that draws its chart at the figure's own width (1 SVG unit = 1 CSS pixel, so
 * labels keep their size at every width), redrawn when the width changes.
 */
function responsive(draw, { cls = "chart-figure", initial = 640 } = {}) {
  const figure = h("figure", { class: cls });
  let last = 0;
  const paint = (width) => {
    const w = Math.max(240, Math.round(width));
    if (Math.abs(w - last) < 2) return;
    last = w;
    replace(figure, draw(w));
  };
  paint(initial);
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver((entries) => {
      const width = entries[0].contentRect.width;
      if (width > 0) paint(width);
    }).observe(figure);
  }
  return figure;
}

/**
 * Horizontal bar chart. items: [{label, value, note, href}]; format(value) labels the bars.
 */
export function hBarChart(items, opts = {}) {
  if (!items.length) return h("p", { class: "empty" }, "No data for this range.");
  return responsive((width) => drawHBars(width, items, opts));
}

/**
 * @param {number} width
 * @param {any[]} items
 * @param {{format?: (value: any) => string, title?: string, testid?: string, color?: string, labelWidth?: number}} [opts]
 */
function drawHBars(width, items, { format = String, title = "", testid, color = "var(--accent)", labelWidth: wantLabel = 190 } = {}) {
  const labelWidth = Math.min(wantLabel, Math.round(width * 0.38));
  const maxChars = Math.max(6, Math.floor((labelWidth - 12) / 7));
  const rowH = 30;
  const height = items.length * rowH + 8;
  const plotW = width - labelWidth - 90;
  const max = Math.max(...items.map((i) => i.value), 0) || 1;
  const svg = s(
    "svg",
    { viewBox: "0 0 " + width + " " + height, width, height, class: "chart chart-hbar", role: "img", "aria-label": title, "data-testid": testid || null },
    s("title", null, title),
    items.map((item, i) => {
      const y = 4 + i * rowH;
      const w = Math.max((item.value / max) * plotW, item.value > 0 ? 2 : 0);
      const label = s("text", { x: labelWidth - 10, y: y + rowH / 2 + 4, class: "chart-label", "text-anchor": "end" }, truncate(item.label, maxChars));
      const bar = s(
        "rect",
        { x: labelWidth, y: y + 5, width: w, height: rowH - 10, rx: 4, fill: color, class: "chart-bar" },
        s("title", null, item.label + ": " + format(item.value) + (item.note ? " · " + item.note : "")),
      );
      const value = s("text", { x: labelWidth + w + 8, y: y + rowH / 2 + 4, class: "chart-value" }, format(item.value));
      const row = s("g", { class: "chart-row" }, s("title", null, item.label), label, bar, value);
      if (item.href) {
        const link = s("a", { href: item.href, class: "chart-link" }, row);
        return link;
      }
      return row;
    }),
  );
  return svg;
}

/**
 * Column chart over days. items: [{label ("YYYY-MM-DD"), value, note}].
 */
export function columnChart(items, opts = {}) {
  if (!items.length) return h("p", { class: "empty" }, "No data for this range.");
  return responsive((width) => drawColumns(width, items, opts), { initial: 900 });
}

/**
 * @param {number} width
 * @param {any[]} items
 * @param {{format?: (value: any) => string, title?: string, testid?: string, color?: string}} [opts]
 */
function drawColumns(width, items, { format = String, title = "", testid, color = "var(--accent)" } = {}) {
  const height = 230;
  const left = 64;
  const right = 12;
  const top = 14;
  const bottom = 44;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(...items.map((i) => i.value), 0));
  const slot = plotW / items.length;
  const barW = Math.max(Math.min(slot * 0.7, 48), 2);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const labelEvery = Math.ceil(items.length / Math.max(2, Math.floor(plotW / 56)));
  return s(
      "svg",
      { viewBox: "0 0 " + width + " " + height, width, height, class: "chart chart-columns", role: "img", "aria-label": title, "data-testid": testid || null },
      s("title", null, title),
      ticks.map((t) => {
        const y = top + plotH - (t / max) * plotH;
        return s(
          "g",
          null,
          s("line", { x1: left, x2: width - right, y1: y, y2: y, class: "chart-grid" }),
          s("text", { x: left - 8, y: y + 4, "text-anchor": "end", class: "chart-axis" }, format(t)),
        );
      }),
      items.map((item, i) => {
        const x = left + i * slot + (slot - barW) / 2;
        const barH = (item.value / max) * plotH;
        return s(
          "g",
          { class: "chart-col" },
          s(
            "rect",
            { x, y: top + plotH - barH, width: barW, height: Math.max(barH, item.value > 0 ? 1 : 0), rx: 3, fill: color, class: "chart-bar" },
            s("title", null, item.label + ": " + format(item.value) + (item.note ? " · " + item.note : "")),
          ),
          i % labelEvery === 0
            ? s("text", { x: x + barW / 2, y: height - bottom + 18, "text-anchor": "middle", class: "chart-axis" }, item.label.length === 10 ? item.label.slice(5) : item.label)
            : null,
        );
      }),
      s("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "chart-baseline" }),
  );
}

function polar(cx, cy, r, angle) {
  return [cx + r * Math.cos(angle), cy - r * Math.sin(angle)];
}

function arcPath(cx, cy, r, fromPct, toPct) {
  const a0 = Math.PI - (Math.PI * fromPct) / 100;
  const a1 = Math.PI - (Math.PI * toPct) / 100;
  const [x0, y0] = polar(cx, cy, r, a0);
  const [x1, y1] = polar(cx, cy, r, a1);
  return "M " + x0.toFixed(2) + " " + y0.toFixed(2) + " A " + r + " " + r + " 0 0 1 " + x1.toFixed(2) + " " + y1.toFixed(2);
}

export function utilizationTone(pct) {
  if (pct >= 80) return "bad";
  if (pct >= 50) return "warn";
  return "ok";
}

/**
 * The context-window gauge: a half circle filled to pct (0–100), with a tick at the peak.
 * @param {number} pct
 * @param {{label?: string, peak?: number | null, testid?: string}} [opts]
 */
export function gauge(pct, { label = "of the context window", peak = null, testid = "context-gauge" } = {}) {
  const value = Math.max(0, Math.min(100, Number(pct) || 0));
  const cx = 120;
  const cy = 118;
  const r = 92;
  const tone = utilizationTone(value);
  const children = [
    s("title", null, "Context utilization " + fmtPct(value)),
    // zones: fine, getting full (50%), nearly full (80%)
    s("path", { d: arcPath(cx, cy, r, 0, 50), class: "gauge-track" }),
    s("path", { d: arcPath(cx, cy, r, 50, 80), class: "gauge-track gauge-zone-warn" }),
    s("path", { d: arcPath(cx, cy, r, 80, 100), class: "gauge-track gauge-zone-bad" }),
  ];
  if (value > 0) children.push(s("path", { d: arcPath(cx, cy, r, 0, Math.max(value, 0.5)), class: "gauge-value gauge-" + tone }));
  // the needle makes small values readable
  const [nx, ny] = polar(cx, cy, r - 16, Math.PI - (Math.PI * value) / 100);
  children.push(s("line", { x1: cx, y1: cy, x2: nx, y2: ny, class: "gauge-needle" }), s("circle", { cx, cy, r: 6, class: "gauge-hub" }));
  if (peak !== null && peak > value) {
    const a = Math.PI - (Math.PI * Math.min(peak, 100)) / 100;
    const [x0, y0] = polar(cx, cy, r - 14, a);
    const [x1, y1] = polar(cx, cy, r + 14, a);
    children.push(s("line", { x1: x0, y1: y0, x2: x1, y2: y1, class: "gauge-peak" }, s("title", null, "Peak " + fmtPct(peak))));
  }
  children.push(
    s("text", { x: cx - r, y: cy + 20, "text-anchor": "middle", class: "chart-axis" }, "0%"),
    s("text", { x: cx + r, y: cy + 20, "text-anchor": "middle", class: "chart-axis" }, "100%"),
    s("text", { x: cx, y: cy + 46, "text-anchor": "middle", class: "gauge-number", "data-testid": "gauge-value" }, fmtPct(value)),
    s("text", { x: cx, y: cy + 66, "text-anchor": "middle", class: "gauge-caption" }, label),
  );
  return s(
    "svg",
    { viewBox: "0 0 240 196", class: "gauge", role: "img", "aria-label": "Context window utilization " + fmtPct(value), "data-testid": testid, "data-value": value.toFixed(1) },
    children,
  );
}

/**
 * Utilization across LLM calls: points [{index, pct, label}], drawn as an area + line chart.
 */
export function utilizationChart(points, opts = {}) {
  if (!points.length) return h("p", { class: "empty" }, "No LLM calls with a known context window.");
  return responsive((width) => drawUtilization(width, points, opts), { cls: "chart-bare", initial: 700 });
}

function drawUtilization(width, points, { testid = "utilization-chart" } = {}) {
  const height = 230;
  const left = 52;
  const right = 16;
  const top = 14;
  const bottom = 34;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const max = Math.min(100, niceMax(Math.max(...points.map((p) => p.pct), 0.5) * 1.15));
  const n = points.length;
  const x = (i) => left + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v) => top + plotH - (Math.min(v, max) / max) * plotH;
  const line = points.map((p, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(p.pct).toFixed(1)).join(" ");
  const area = line + " L" + x(n - 1).toFixed(1) + " " + (top + plotH) + " L" + x(0).toFixed(1) + " " + (top + plotH) + " Z";
  const ticks = [0, 0.5, 1].map((f) => f * max);
  const labelEvery = Math.ceil(n / Math.max(2, Math.floor(plotW / 48)));
  return s(
    "svg",
    { viewBox: "0 0 " + width + " " + height, width, height, class: "chart chart-line", role: "img", "aria-label": "Context utilization across " + n + " LLM calls", "data-testid": testid },
    s("title", null, "Context utilization across LLM calls"),
    ticks.map((t) =>
      s(
        "g",
        null,
        s("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "chart-grid" }),
        s("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "chart-axis" }, fmtPct(t, max < 2 ? 2 : max < 20 ? 1 : 0)),
      ),
    ),
    n > 1 ? s("path", { d: area, class: "util-area" }) : null,
    n > 1 ? s("path", { d: line, class: "util-line" }) : null,
    points.map((p, i) =>
      s(
        "g",
        { class: "util-point" },
        s("circle", { cx: x(i), cy: y(p.pct), r: 4.5, class: "util-dot util-" + utilizationTone(p.pct) }, s("title", null, "Call " + p.index + " · " + (p.label || "") + " · " + fmtPct(p.pct))),
        i % labelEvery === 0 || i === n - 1 ? s("text", { x: x(i), y: height - bottom + 18, "text-anchor": "middle", class: "chart-axis" }, "#" + p.index) : null,
      ),
    ),
    s("text", { x: left + plotW / 2, y: height - 2, "text-anchor": "middle", class: "chart-axis" }, "LLM call"),
  );
}
