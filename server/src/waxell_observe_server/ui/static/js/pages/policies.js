// @ts-check
// Policies: the loaded policies and the audit log of policy decisions.

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { oneLine } from "../format.js";
import { kvList, pageHeader, pager, runLink, section, statusBadge, table, timeCell } from "../components.js";

const LIMIT = 50;
const ACTIONS = ["warn", "redact", "retry", "throttle", "block", "allow", "skip"];

const EVERYTHING = "everything";

/** "agents: support-*" — scope entries that match everything ("*") are left out. */
function scopeText(scope) {
  if (!scope || scope === "*" || typeof scope !== "object") return scope && scope !== "*" ? String(scope) : EVERYTHING;
  const parts = Object.entries(scope)
    .filter(([, v]) => v !== null && v !== undefined && v !== "*" && !(Array.isArray(v) && (!v.length || (v.length === 1 && v[0] === "*"))))
    .map(([k, v]) => k + ": " + (Array.isArray(v) ? v.join(", ") : oneLine(v)));
  return parts.join(" · ") || EVERYTHING;
}

/** Rules that are set: unset (null) and empty values are the defaults of "no limit". */
function setRules(rules) {
  return Object.entries(rules).filter(
    ([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length) && !(typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length),
  );
}

function policyCard(p) {
  const rules = p.rules && typeof p.rules === "object" ? p.rules : {};
  const enabled = p.enabled !== false;
  return h(
    "article",
    { class: ["policy", enabled ? "" : "policy-off"], "data-testid": "policy-card" },
    h(
      "header",
      { class: "policy-head" },
      h("h3", null, p.name || "(unnamed)"),
      h("span", { class: "chip" }, p.category || "?"),
      h("span", { class: ["badge", enabled ? "badge-ok" : "badge-neutral"] }, enabled ? "enabled" : "disabled"),
    ),
    kvList([
      ["Scope", scopeText(p.scope)],
      p.priority !== undefined ? ["Priority", String(p.priority)] : null,
      ...setRules(rules).map(([k, v]) => [k, h("code", null, oneLine(v, 200))]),
    ]),
  );
}

export async function renderPolicies(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const offset = Math.max(0, Number(p.offset) || 0);
  const [policies, audit] = await Promise.all([
    read("policies/"),
    read("audit/", { limit: LIMIT, offset, action: p.action, run_id: p.run_id }),
  ]);
  if (!ctx.alive()) return;
  const list = policies.policies || [];
  const form = h(
    "form",
    {
      class: "filters filters-compact",
      "aria-label": "Filter the audit log",
      onsubmit: (e) => {
        e.preventDefault();
        const d = new FormData(form);
        setParams({ action: d.get("action") || "", run_id: String(d.get("run_id") || "").trim() });
      },
    },
    h(
      "label",
      { class: "field" },
      h("span", { class: "field-label" }, "Action"),
      h(
        "select",
        { name: "action", "data-testid": "audit-action", onchange: (e) => setParams({ ...p, action: e.target.value, offset: "" }) },
        h("option", { value: "" }, "any"),
        ACTIONS.map((a) => h("option", { value: a, selected: a === p.action }, a)),
      ),
    ),
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Run id"), h("input", { name: "run_id", value: p.run_id || "", placeholder: "any", autocomplete: "off" })),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply"), h("a", { class: "btn", href: "#/policies" }, "Clear")),
  );
  replace(
    ctx.main,
    pageHeader("Policies"),
    section(
      "Policies (" + list.length + ")",
      list.length
        ? h("div", { class: "policy-grid" }, list.map(policyCard))
        : h("p", { class: "empty" }, "No policies are loaded. Add some with ", h("code", null, "waxell-observe policies add FILE.yaml"), "."),
    ),
    section(
      "Audit log",
      form,
      table(
        [
          { label: "Time", cell: (e) => timeCell(e.ts) },
          { label: "Event", cell: (e) => e.event, hideSmall: true },
          { label: "Policy", cell: (e) => e.policy_name || "–" },
          { label: "Category", cell: (e) => e.category || "–", hideSmall: true },
          { label: "Action", cell: (e) => (e.action ? statusBadge(e.action) : "–") },
          { label: "Phase", cell: (e) => e.phase || "–", hideSmall: true },
          { label: "Agent", cell: (e) => e.agent_name || "–" },
          { label: "Run", cell: (e) => (e.run_id ? runLink(e.run_id) : "–") },
          { label: "Reason", cell: (e) => e.reason || "–" },
        ],
        audit.events || [],
        { caption: "Audit log", testid: "audit-table", empty: "No policy decisions recorded yet." },
      ),
      pager({ total: audit.total || 0, limit: LIMIT, offset, label: "events", onGo: (o) => setParams({ ...p, offset: o || "" }) }),
    ),
  );
}
