// @ts-check
// Sessions: runs grouped by session_id, with aggregates and the conversation across runs.

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtDuration, fmtInt, fmtTokens, toMs } from "../format.js";
import { hBarChart } from "../charts.js";
import { cards, href, pageHeader, pager, runHref, section, sessionLink, statusBadge, table, timeCell, userLink } from "../components.js";
import { conversationThread } from "./run.js";

const LIMIT = 50;

function chipList(values, toHref) {
  if (!values || !values.length) return h("span", { class: "muted" }, "–");
  return h("span", { class: "chips" }, values.map((v) => (toHref ? h("a", { class: "chip", href: toHref(v) }, v) : h("span", { class: "chip" }, v))));
}

export async function renderSessions(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const offset = Math.max(0, Number(p.offset) || 0);
  const data = await read("sessions/", { limit: LIMIT, offset, agent_name: p.agent_name, user_id: p.user_id });
  if (!ctx.alive()) return;
  const form = h(
    "form",
    {
      class: "filters filters-compact",
      role: "search",
      "aria-label": "Filter sessions",
      onsubmit: (e) => {
        e.preventDefault();
        const d = new FormData(form);
        setParams({ agent_name: String(d.get("agent_name") || "").trim(), user_id: String(d.get("user_id") || "").trim() });
      },
    },
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Agent"), h("input", { name: "agent_name", value: p.agent_name || "", placeholder: "any" })),
    h("label", { class: "field" }, h("span", { class: "field-label" }, "User"), h("input", { name: "user_id", value: p.user_id || "", placeholder: "any" })),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply"), h("a", { class: "btn", href: "#/sessions" }, "Clear")),
  );
  replace(
    ctx.main,
    pageHeader("Sessions"),
    h("p", { class: "lead" }, "Runs that share a session id, newest activity first."),
    form,
    table(
      [
        { label: "Session", cell: (r) => sessionLink(r.session_id) },
        { label: "Runs", cell: (r) => fmtInt(r.run_count), class: "num" },
        { label: "Tokens", cell: (r) => fmtTokens(r.total_tokens), class: "num" },
        { label: "Cost", cell: (r) => fmtCost(r.total_cost), class: "num" },
        { label: "First seen", cell: (r) => timeCell(r.first_seen), hideSmall: true },
        { label: "Last seen", cell: (r) => timeCell(r.last_seen) },
        { label: "Agents", cell: (r) => chipList(r.agents), hideSmall: true },
        { label: "Users", cell: (r) => chipList(r.user_ids, (u) => href("/users/" + encodeURIComponent(u))), hideSmall: true },
      ],
      data.sessions || [],
      { caption: "Sessions", testid: "sessions-table", empty: "No sessions yet. Runs join a session when they are given a session_id." },
    ),
    pager({ total: data.total || 0, limit: LIMIT, offset, label: "sessions", onGo: (o) => setParams({ ...p, offset: o || "" }) }),
  );
}

export async function renderSession(ctx) {
  const id = ctx.args[0];
  const s = await read("sessions/" + encodeURIComponent(id) + "/");
  if (!ctx.alive()) return;
  ctx.setTitle("Session " + id);
  const span = Number(toMs(s.last_seen)) - Number(toMs(s.first_seen));
  const runs = s.runs || [];
  const items = (s.conversation || []).map((m, i) => ({ kind: m.kind, text: m.text, at: toMs(m.at), pos: i, runId: m.run_id }));
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/sessions" }, "Sessions"), " / ", h("span", null, id)),
    pageHeader("Session " + id),
    cards([
      { label: "Runs", value: fmtInt(s.run_count), testid: "session-runs" },
      { label: "Tokens", value: fmtTokens(s.total_tokens), sub: fmtInt(s.total_tokens) + " total" },
      { label: "Cost", value: fmtCost(s.total_cost), testid: "session-cost" },
      { label: "Span of time", value: Number.isFinite(span) ? fmtDuration(span) : "–", sub: "first to last run" },
    ]),
    h(
      "dl",
      { class: "kv facts" },
      h("dt", null, "Agents"),
      h("dd", null, chipList(s.agents, (a) => href("/runs", { agent_name: a, session_id: id }))),
      h("dt", null, "Users"),
      h("dd", null, chipList(s.user_ids, (u) => href("/users/" + encodeURIComponent(u)))),
      h("dt", null, "First seen"),
      h("dd", null, timeCell(s.first_seen)),
      h("dt", null, "Last seen"),
      h("dd", null, timeCell(s.last_seen)),
    ),
    h(
      "div",
      { class: "two-col" },
      section("Conversation across runs", conversationThread(items, { runLinks: true })),
      section(
        "Cost per run",
        hBarChart(
          runs.map((r, i) => ({ label: "#" + (i + 1) + " " + r.agent_name, value: r.total_cost, note: fmtInt(r.total_tokens) + " tokens", href: runHref(r.run_id) })),
          { format: fmtCost, title: "Cost of each run in the session", testid: "session-cost-chart", labelWidth: 170 },
        ),
      ),
    ),
    section(
      "Runs (oldest first)",
      table(
        [
          { label: "#", cell: (r) => String(runs.indexOf(r) + 1), class: "num" },
          { label: "Status", cell: (r) => statusBadge(r.status) },
          { label: "Agent", cell: (r) => h("a", { href: runHref(r.run_id) }, r.agent_name) },
          { label: "Started", cell: (r) => timeCell(r.started_at) },
          { label: "Duration", cell: (r) => fmtDuration(r.duration_ms), class: "num" },
          { label: "Tokens", cell: (r) => fmtTokens(r.total_tokens), class: "num" },
          { label: "Cost", cell: (r) => fmtCost(r.total_cost), class: "num" },
          { label: "User", cell: (r) => userLink(r.user_id), hideSmall: true },
        ],
        runs,
        { caption: "Runs of the session", testid: "session-runs-table" },
      ),
    ),
  );
}
