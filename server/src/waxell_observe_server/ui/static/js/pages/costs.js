// @ts-check
// Costs: spend by day, model and agent, as charts (with the exact numbers below them).

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtInt, fmtTokens } from "../format.js";
import { columnChart, hBarChart } from "../charts.js";
import { cards, href, pageHeader, section, table } from "../components.js";
import { RANGES, timeWindow } from "./runs.js";

/**
 * Every UTC day ("YYYY-MM-DD") of the window, missing days as zeros. The window runs from
 * `since` (epoch seconds; else the first day with data) to `until` (else today, or the last
 * day with data if later).
 */
export function fillDays(byDay, since, until) {
  if (!byDay.length) return [];
  const sorted = byDay.slice().sort((a, b) => (a.day < b.day ? -1 : 1));
  const map = new Map(sorted.map((d) => [d.day, d]));
  const out = [];
  const dayStart = (ms) => new Date(new Date(ms).toISOString().slice(0, 10) + "T00:00:00Z");
  const first = new Date(sorted[0].day + "T00:00:00Z");
  const last = new Date(sorted[sorted.length - 1].day + "T00:00:00Z");
  const start = since ? dayStart(Number(since) * 1000) : first;
  let end = until ? dayStart(Number(until) * 1000 - 1) : dayStart(Date.now());
  if (last > end) end = last;
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || (end.getTime() - start.getTime()) / 86400000 > 400) return sorted;
  for (let t = start.getTime(); t <= end.getTime(); t += 86400000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(map.get(day) || { day, runs: 0, tokens: 0, cost: 0 });
  }
  return out;
}

export async function renderCosts(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const range = RANGES.some(([v]) => v === p.range) ? p.range : "30d";
  const metric = p.metric === "tokens" ? "tokens" : "cost";
  const w = timeWindow(range, p.since, p.until);
  const [data, agents] = await Promise.all([
    read("costs/", { since: w.since, until: w.until, agent_name: p.agent_name }),
    read("agents/").catch((e) => {
      if (e.name === "AuthError") throw e;
      return { agents: [] };
    }),
  ]);
  if (!ctx.alive()) return;
  const fmt = metric === "cost" ? fmtCost : fmtTokens;
  const byModel = data.by_model || [];
  const byAgent = data.by_agent || [];
  const days = fillDays(data.by_day || [], w.since, w.until);
  const totalTokens = byAgent.reduce((n, a) => n + (a.tokens || 0), 0);
  const totalRuns = byAgent.reduce((n, a) => n + (a.runs || 0), 0);
  const modelValue = (m) => (metric === "cost" ? m.cost : m.tokens_in + m.tokens_out);

  const form = h(
    "form",
    {
      class: "filters filters-compact",
      "aria-label": "Cost filters",
      onsubmit: (e) => {
        e.preventDefault();
        const d = new FormData(form);
        setParams({ ...p, range: d.get("range"), agent_name: String(d.get("agent_name") || "").trim(), since: d.get("since") || "", until: d.get("until") || "" });
      },
    },
    h(
      "label",
      { class: "field" },
      h("span", { class: "field-label" }, "Time"),
      h(
        "select",
        { name: "range", "data-testid": "costs-range", onchange: (e) => setParams({ ...p, range: e.target.value, since: "", until: "" }) },
        RANGES.map(([v, label]) => h("option", { value: v, selected: v === range }, label)),
      ),
    ),
    range === "custom"
      ? [
          h("label", { class: "field" }, h("span", { class: "field-label" }, "From"), h("input", { type: "datetime-local", name: "since", value: p.since || "", step: "1" })),
          h("label", { class: "field" }, h("span", { class: "field-label" }, "To"), h("input", { type: "datetime-local", name: "until", value: p.until || "", step: "1" })),
        ]
      : null,
    h(
      "label",
      { class: "field" },
      h("span", { class: "field-label" }, "Agent"),
      h(
        "select",
        { name: "agent_name", onchange: (e) => setParams({ ...p, agent_name: e.target.value }) },
        h("option", { value: "" }, "all agents"),
        (agents.agents || []).map((a) => h("option", { value: a.agent_name, selected: a.agent_name === p.agent_name }, a.agent_name)),
      ),
    ),
    h(
      "div",
      { class: "segmented", role: "group", "aria-label": "Measure" },
      ["cost", "tokens"].map((m) =>
        h("button", { type: "button", class: "btn", "aria-pressed": m === metric ? "true" : "false", onclick: () => setParams({ ...p, metric: m === "cost" ? "" : m }) }, m === "cost" ? "Cost" : "Tokens"),
      ),
    ),
    range === "custom" ? h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply")) : null,
  );

  replace(
    ctx.main,
    pageHeader("Costs"),
    form,
    cards([
      { label: "Total cost", value: fmtCost(data.total_cost), testid: "costs-total" },
      { label: "Tokens", value: fmtTokens(totalTokens), sub: fmtInt(totalTokens) + " total" },
      { label: "Runs", value: fmtInt(totalRuns) },
      { label: "Models", value: fmtInt(byModel.length) },
    ]),
    section(
      (metric === "cost" ? "Cost" : "Tokens") + " by day (UTC)",
      columnChart(days.map((d) => ({ label: d.day, value: metric === "cost" ? d.cost : d.tokens, note: fmtInt(d.runs) + " runs" })), { format: fmt, title: (metric === "cost" ? "Cost" : "Tokens") + " by day", testid: "chart-by-day" }),
    ),
    h(
      "div",
      { class: "two-col" },
      section(
        "By model",
        hBarChart(
          byModel.slice().sort((a, b) => modelValue(b) - modelValue(a)).map((m) => ({ label: m.model, value: modelValue(m), note: fmtInt(m.calls) + " calls · " + (m.provider || "unknown provider") })),
          { format: fmt, title: "By model", testid: "chart-by-model" },
        ),
      ),
      section(
        "By agent",
        hBarChart(
          byAgent.slice().sort((a, b) => (metric === "cost" ? b.cost - a.cost : b.tokens - a.tokens)).map((a) => ({ label: a.agent_name, value: metric === "cost" ? a.cost : a.tokens, note: fmtInt(a.runs) + " runs", href: href("/runs", { agent_name: a.agent_name }) })),
          { format: fmt, title: "By agent", testid: "chart-by-agent", color: "var(--accent-2)" },
        ),
      ),
    ),
    h(
      "details",
      { class: "numbers" },
      h("summary", null, "Exact numbers"),
      h(
        "div",
        { class: "two-col" },
        table(
          [
            { label: "Model", cell: (m) => m.model },
            { label: "Provider", cell: (m) => m.provider || "–", hideSmall: true },
            { label: "Calls", cell: (m) => fmtInt(m.calls), class: "num" },
            { label: "In", cell: (m) => fmtInt(m.tokens_in), class: "num" },
            { label: "Out", cell: (m) => fmtInt(m.tokens_out), class: "num" },
            { label: "Cost", cell: (m) => fmtCost(m.cost), class: "num" },
          ],
          byModel,
          { caption: "Cost by model", testid: "costs-models-table" },
        ),
        table(
          [
            { label: "Agent", cell: (a) => a.agent_name },
            { label: "Runs", cell: (a) => fmtInt(a.runs), class: "num" },
            { label: "Tokens", cell: (a) => fmtInt(a.tokens), class: "num" },
            { label: "Cost", cell: (a) => fmtCost(a.cost), class: "num" },
          ],
          byAgent,
          { caption: "Cost by agent", testid: "costs-agents-table" },
        ),
      ),
    ),
  );
}
