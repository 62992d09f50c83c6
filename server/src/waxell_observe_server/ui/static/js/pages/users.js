// @ts-check
// Users: runs, tokens and cost per end user, and each user's spend by model.

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtDuration, fmtInt, fmtTime, fmtTokens } from "../format.js";
import { hBarChart } from "../charts.js";
import { cards, href, pageHeader, pager, runHref, section, sessionLink, statusBadge, table, timeCell, userLink } from "../components.js";

const LIMIT = 50;

export async function renderUsers(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const offset = Math.max(0, Number(p.offset) || 0);
  const data = await read("users/", { limit: LIMIT, offset });
  if (!ctx.alive()) return;
  const users = data.users || [];
  replace(
    ctx.main,
    pageHeader("Users"),
    h("p", { class: "lead" }, "End users of your agents (the user_id of their runs)."),
    users.length
      ? section(
          "Cost by user (this page)",
          hBarChart(
            users.slice().sort((a, b) => b.total_cost - a.total_cost).slice(0, 12).map((u) => ({ label: u.user_id, value: u.total_cost, note: fmtInt(u.run_count) + " runs", href: href("/users/" + encodeURIComponent(u.user_id)) })),
            { format: fmtCost, title: "Cost by user", testid: "users-cost-chart" },
          ),
        )
      : null,
    table(
      [
        { label: "User", cell: (u) => userLink(u.user_id) },
        { label: "Runs", cell: (u) => fmtInt(u.run_count), class: "num" },
        { label: "Tokens", cell: (u) => fmtTokens(u.total_tokens), class: "num" },
        { label: "Cost", cell: (u) => fmtCost(u.total_cost), class: "num" },
        { label: "First seen", cell: (u) => timeCell(u.first_seen), hideSmall: true },
        { label: "Last seen", cell: (u) => timeCell(u.last_seen) },
      ],
      users,
      { caption: "Users", testid: "users-table", empty: "No users yet. Runs are attributed to a user when they are given a user_id." },
    ),
    pager({ total: data.total || 0, limit: LIMIT, offset, label: "users", onGo: (o) => setParams({ ...p, offset: o || "" }) }),
  );
}

export async function renderUser(ctx) {
  const id = ctx.args[0];
  const u = await read("users/" + encodeURIComponent(id) + "/");
  if (!ctx.alive()) return;
  ctx.setTitle("User " + id);
  const byModel = u.by_model || [];
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/users" }, "Users"), " / ", h("span", null, id)),
    pageHeader("User " + id, h("a", { class: "btn btn-small", href: href("/runs", { user_id: id }) }, "All runs of this user")),
    cards([
      { label: "Runs", value: fmtInt(u.run_count), testid: "user-runs" },
      { label: "Tokens", value: fmtTokens(u.total_tokens), sub: fmtInt(u.total_tokens) + " total" },
      { label: "Cost", value: fmtCost(u.total_cost), testid: "user-cost" },
      { label: "Last seen", value: fmtTime(u.last_seen).slice(0, 10), sub: "at " + fmtTime(u.last_seen).slice(11) + " · first seen " + fmtTime(u.first_seen).slice(0, 10) },
    ]),
    h(
      "div",
      { class: "two-col" },
      section(
        "Cost by model",
        hBarChart(byModel.map((m) => ({ label: m.model, value: m.cost, note: fmtInt(m.calls) + " calls" })), { format: fmtCost, title: "Cost by model", testid: "user-model-chart" }),
      ),
      section(
        "Tokens by model",
        table(
          [
            { label: "Model", cell: (m) => m.model },
            { label: "Calls", cell: (m) => fmtInt(m.calls), class: "num" },
            { label: "In", cell: (m) => fmtTokens(m.tokens_in), class: "num" },
            { label: "Out", cell: (m) => fmtTokens(m.tokens_out), class: "num" },
            { label: "Cost", cell: (m) => fmtCost(m.cost), class: "num" },
          ],
          byModel,
          { caption: "Usage by model", testid: "user-models-table", empty: "No LLM calls." },
        ),
      ),
    ),
    section(
      "Recent runs",
      table(
        [
          { label: "Status", cell: (r) => statusBadge(r.status) },
          { label: "Agent", cell: (r) => h("a", { href: runHref(r.run_id) }, r.agent_name) },
          { label: "Started", cell: (r) => timeCell(r.started_at) },
          { label: "Duration", cell: (r) => fmtDuration(r.duration_ms), class: "num" },
          { label: "Tokens", cell: (r) => fmtTokens(r.total_tokens), class: "num" },
          { label: "Cost", cell: (r) => fmtCost(r.total_cost), class: "num" },
          { label: "Session", cell: (r) => sessionLink(r.session_id), hideSmall: true },
        ],
        u.runs || [],
        { caption: "Runs of this user", testid: "user-runs-table" },
      ),
      (u.runs || []).length >= 100 ? h("p", { class: "muted small" }, "Showing the newest 100 runs. ", h("a", { href: href("/runs", { user_id: id }) }, "See all runs of this user"), ".") : null,
    ),
  );
}
