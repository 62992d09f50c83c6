// @ts-check
// The runs page: filters, sort, server-side pagination, totals and auto-refresh.

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtDuration, fmtInt, fmtPct, fmtTokens } from "../format.js";
import { cards, errorBox, pageHeader, pager, runHref, sessionLink, statusBadge, table, tagChips, timeCell, userLink } from "../components.js";
import { VOCABULARY } from "../vocabulary.js";

export const STATUSES = VOCABULARY.run_statuses;
const SORTS = [
  ["started_at", "Start time"],
  ["ended_at", "End time"],
  ["agent_name", "Agent"],
  ["status", "Status"],
  ["total_cost", "Cost"],
  ["tokens_in", "Input tokens"],
  ["llm_call_count", "LLM calls"],
];
export const RANGES = [
  ["", "Any time"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["custom", "Custom range"],
];
const RANGE_SECONDS = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800, "30d": 2592000 };
const PAGE_SIZES = [25, 50, 100, 200];
const TEXT_FILTERS = [
  ["workflow_name", "Workflow"],
  ["session_id", "Session"],
  ["user_id", "User"],
  ["user_group", "User group"],
  ["tag", "Tag (key or key:value)"],
];
const REFRESH_MS = 5000;
const REFRESH_KEY = "waxell.autorefresh";

/** since/until (epoch seconds) for a range param and optional custom datetime-local values. */
export function timeWindow(range, since, until) {
  if (RANGE_SECONDS[range]) return { since: Math.floor(Date.now() / 1000) - RANGE_SECONDS[range], until: "" };
  if (range === "custom") {
    const toEpoch = (v) => {
      if (!v) return "";
      const t = new Date(v).getTime();
      return Number.isNaN(t) ? "" : Math.floor(t / 1000);
    };
    return { since: toEpoch(since), until: toEpoch(until) };
  }
  return { since: "", until: "" };
}

function paramsObject(params) {
  const out = {};
  for (const [k, v] of params.entries()) out[k] = v;
  return out;
}

function field(label, control, extraClass) {
  return h("label", { class: ["field", extraClass] }, h("span", { class: "field-label" }, label), control);
}

function select(name, options, value, attrs = {}) {
  return h(
    "select",
    { name, ...attrs },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

export async function renderRuns(ctx) {
  const p = paramsObject(ctx.params);
  const wanted = Math.floor(Number(p.limit));
  const limit = wanted >= 1 && wanted <= 500 ? wanted : 50;
  const offset = Math.max(0, Number(p.offset) || 0);
  const orderBy = SORTS.some(([v]) => v === p.order_by) ? p.order_by : "started_at";
  const order = p.order === "asc" ? "asc" : "desc";
  const range = RANGES.some(([v]) => v === p.range) ? p.range : "";

  const agents = await read("agents/").catch((e) => {
    if (e.name === "AuthError" || e.status === 401 || e.status === 403) throw e;
    return { agents: [] };
  });
  if (!ctx.alive()) return;

  const apply = (changes) => setParams({ ...p, ...changes, offset: changes.offset !== undefined ? changes.offset : "" });

  const agentList = h("datalist", { id: "agent-names" }, (agents.agents || []).map((a) => h("option", { value: a.agent_name })));
  const form = h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": "Filter runs",
      "data-testid": "run-filters",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const next = {};
        for (const [k, v] of data.entries()) next[k] = String(v).trim();
        next.roots_only = data.get("roots_only") ? "true" : "";
        setParams({ ...next, order_by: orderBy === "started_at" ? "" : orderBy, order: order === "desc" ? "" : order, limit: limit === 50 ? "" : limit });
      },
    },
    field("Agent", h("input", { name: "agent_name", list: "agent-names", value: p.agent_name || "", autocomplete: "off", placeholder: "any", "data-testid": "filter-agent" })),
    agentList,
    field("Status", select("status", [["", "any"], ...STATUSES.map((x) => [x, x])], p.status || "", { "data-testid": "filter-status", onchange: (e) => apply({ status: e.target.value }) })),
    TEXT_FILTERS.map(([name, label]) =>
      field(label, h("input", { name, value: p[name] || "", autocomplete: "off", placeholder: "any", "data-testid": "filter-" + name })),
    ),
    field("Time", select("range", RANGES, range, { "data-testid": "filter-range", onchange: (e) => apply({ range: e.target.value, since: "", until: "" }) })),
    range === "custom"
      ? [
          field("From", h("input", { type: "datetime-local", name: "since", value: p.since || "", step: "1" })),
          field("To", h("input", { type: "datetime-local", name: "until", value: p.until || "", step: "1" })),
        ]
      : null,
    h(
      "label",
      { class: "field field-check" },
      h("input", { type: "checkbox", name: "roots_only", value: "true", checked: p.roots_only === "true", onchange: (e) => apply({ roots_only: e.target.checked ? "true" : "" }) }),
      h("span", null, "Top-level runs only"),
    ),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "btn btn-primary", "data-testid": "apply-filters" }, "Apply"),
      h("a", { class: "btn", href: "#/runs" }, "Clear"),
    ),
  );

  const sortBar = h(
    "div",
    { class: "toolbar" },
    field("Sort by", select("order_by", SORTS, orderBy, { "data-testid": "sort-by", onchange: (e) => apply({ order_by: e.target.value }) }), "field-inline"),
    field("Order", select("order", [["desc", "Descending"], ["asc", "Ascending"]], order, { "data-testid": "sort-order", onchange: (e) => apply({ order: e.target.value }) }), "field-inline"),
    field(
      "Per page",
      select("limit", [...new Set([...PAGE_SIZES, limit])].sort((a, b) => a - b).map((n) => [String(n), String(n)]), String(limit), { onchange: (e) => apply({ limit: e.target.value }) }),
      "field-inline",
    ),
  );

  let autoRefresh = false;
  try {
    autoRefresh = localStorage.getItem(REFRESH_KEY) === "on";
  } catch (e) {
    autoRefresh = false;
  }
  const refreshStatus = h("span", { class: "refresh-status muted", "aria-live": "polite" });
  const refreshToggle = h(
    "label",
    { class: "toggle" },
    h("input", {
      type: "checkbox",
      checked: autoRefresh,
      "data-testid": "auto-refresh",
      onchange: (e) => {
        autoRefresh = e.target.checked;
        try {
          localStorage.setItem(REFRESH_KEY, autoRefresh ? "on" : "off");
        } catch (err) {
          /* storage disabled */
        }
        schedule();
      },
    }),
    h("span", null, "Auto-refresh every " + REFRESH_MS / 1000 + " s"),
  );

  const totalsBox = h("div", { "data-testid": "run-totals" });
  const listBox = h("div", { class: "runs-list" });
  replace(ctx.main, pageHeader("Runs", h("div", { class: "head-tools" }, refreshStatus, refreshToggle)), form, totalsBox, sortBar, listBox);

  let timer = null;
  let inFlight = false;
  ctx.onLeave(() => clearTimeout(timer));

  async function load() {
    if (inFlight) return;
    inFlight = true;
    const window = timeWindow(range, p.since, p.until);
    const query = {
      agent_name: p.agent_name,
      workflow_name: p.workflow_name,
      status: p.status,
      session_id: p.session_id,
      user_id: p.user_id,
      user_group: p.user_group,
      tag: p.tag,
      since: window.since,
      until: window.until,
      roots_only: p.roots_only === "true" ? "true" : "",
      order_by: orderBy,
      order,
      limit,
      offset,
    };
    try {
      const data = await read("runs/", query);
      if (!ctx.alive()) return;
      paint(data);
      refreshStatus.textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (error) {
      if (!ctx.alive()) return;
      if (error.name === "AuthError" || error.status === 401 || error.status === 403) throw error;
      replace(listBox, errorBox(error));
    } finally {
      inFlight = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (autoRefresh && ctx.alive()) {
      timer = setTimeout(async () => {
        try {
          await load();
        } catch (e) {
          console.error(e);
        }
        schedule();
      }, REFRESH_MS);
    }
  }

  function paint(data) {
    const t = data.totals || { runs: data.total, tokens: 0, cost: 0, errors: 0, error_rate: 0 };
    replace(
      totalsBox,
      cards([
        { label: "Runs", value: fmtInt(t.runs), testid: "total-runs" },
        { label: "Tokens", value: fmtTokens(t.tokens), sub: fmtInt(t.tokens) + " total", testid: "total-tokens" },
        { label: "Cost", value: fmtCost(t.cost), testid: "total-cost" },
        { label: "Error rate", value: fmtPct((t.error_rate || 0) * 100), sub: fmtInt(t.errors) + " failed", tone: t.errors ? "bad" : "", testid: "total-error-rate" },
      ]),
    );
    replace(
      listBox,
      table(
        [
          { label: "Status", cell: (r) => statusBadge(r.status) },
          {
            label: "Agent",
            cell: (r) =>
              h(
                "span",
                { class: "cell-main" },
                h("a", { href: runHref(r.run_id), class: "run-link", "data-testid": "run-link" }, r.agent_name),
                r.parent_run_id ? h("span", { class: "muted small", title: "Nested run" }, " ↳ child") : null,
              ),
          },
          { label: "Workflow", cell: (r) => r.workflow_name, hideSmall: true },
          { label: "Started", cell: (r) => timeCell(r.started_at) },
          { label: "Duration", cell: (r) => fmtDuration(r.duration_ms), class: "num", hideSmall: true },
          { label: "Tokens", cell: (r) => fmtTokens(r.total_tokens), class: "num", hideSmall: true },
          { label: "Cost", cell: (r) => fmtCost(r.total_cost), class: "num" },
          { label: "LLM", cell: (r) => fmtInt(r.llm_call_count), class: "num", hideSmall: true },
          { label: "Session", cell: (r) => sessionLink(r.session_id), hideSmall: true },
          { label: "User", cell: (r) => userLink(r.user_id), hideSmall: true },
          { label: "Tags", cell: (r) => tagChips(r.tags), hideSmall: true },
        ],
        data.runs || [],
        { caption: "Runs", testid: "runs-table", empty: "No runs match these filters.", rowAttrs: (r) => ({ "data-run-id": r.run_id, class: r.status === "error" || r.status === "blocked" ? "row-bad" : null }) },
      ),
      pager({ total: data.total || 0, limit, offset, label: "runs", onGo: (o) => apply({ offset: o || "" }) }),
    );
  }

  replace(listBox, h("p", { class: "loading" }, "Loading runs…"));
  await load();
  schedule();
}
