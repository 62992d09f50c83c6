// @ts-check
// Prompts: the managed prompts, each version's text and labels, a line diff between two versions,
// and what each version was used for (runs, LLM calls, tokens, cost, scores).
//
// #/prompts                                   every prompt
// #/prompts/<name>?v=<version>&from=<a>&to=<b>  one prompt: version v shown, the diff from a to b

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtInt, fmtTokens } from "../format.js";
import { cards, href, jsonBlock, pageHeader, pager, runLink, section, statusBadge, table, timeCell } from "../components.js";
import { lineDiff, promptText } from "../line_diff.js";

const LIMIT = 100;

function promptHref(name, params) {
  return href("/prompts/" + encodeURIComponent(name), params);
}

/** Labels as chips "production → v3" ({label: version}) or a version's labels (["production"]). */
function labelChips(labels) {
  const entries = Array.isArray(labels) ? labels.map((l) => [l, null]) : Object.entries(labels || {});
  if (!entries.length) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    { class: "chips" },
    entries.map(([label, version]) => h("span", { class: "chip", "data-label": label }, version === null ? label : label + " → v" + version)),
  );
}

/** Score means: "accuracy 0.50 (2) · helpful 0.50 (2)". */
function scoreSummary(scores) {
  if (!scores || !scores.length) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    { class: "chips" },
    scores.map((s) => h("span", { class: "chip", title: s.count + " scores" }, s.name + " " + fmtScore(s.mean))),
  );
}

function fmtScore(value) {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  return String(value);
}

/** A run's own scores: {name: value}. */
function runScores(scores) {
  const entries = Object.entries(scores || {});
  if (!entries.length) return h("span", { class: "muted" }, "–");
  return h("span", { class: "chips" }, entries.map(([name, value]) => h("span", { class: "chip" }, name + ": " + fmtScore(value))));
}

export async function renderPrompts(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const offset = Math.max(0, Number(p.offset) || 0);
  const data = await read("prompts/", { limit: LIMIT, offset, search: p.search });
  if (!ctx.alive()) return;
  const form = h(
    "form",
    {
      class: "filters filters-compact",
      role: "search",
      "aria-label": "Find prompts",
      onsubmit: (e) => {
        e.preventDefault();
        setParams({ search: String(new FormData(form).get("search") || "").trim() });
      },
    },
    h("label", { class: "field" }, h("span", { class: "field-label" }, "Name contains"), h("input", { name: "search", value: p.search || "", placeholder: "any", "data-testid": "prompts-search" })),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Find"), h("a", { class: "btn", href: "#/prompts" }, "Clear")),
  );
  replace(
    ctx.main,
    pageHeader("Prompts"),
    h("p", { class: "lead" }, "Managed prompts (", h("code", null, "waxell-observe prompts add"), "), their versions and labels, and the runs that used them."),
    form,
    table(
      [
        { label: "Prompt", cell: (r) => h("a", { href: promptHref(r.name) }, r.name) },
        { label: "Type", cell: (r) => r.prompt_type },
        { label: "Latest", cell: (r) => "v" + r.latest_version, class: "num" },
        { label: "Versions", cell: (r) => fmtInt(r.version_count), class: "num" },
        { label: "Labels", cell: (r) => labelChips(r.labels) },
        { label: "Runs", cell: (r) => fmtInt(r.run_count), class: "num" },
        { label: "Last used", cell: (r) => (r.last_used_at ? timeCell(r.last_used_at) : h("span", { class: "muted" }, "never")), hideSmall: true },
        { label: "Updated", cell: (r) => timeCell(r.updated_at), hideSmall: true },
      ],
      data.prompts || [],
      {
        caption: "Prompts",
        testid: "prompts-table",
        empty: p.search
          ? "No prompt's name contains “" + p.search + "”."
          : "No prompts yet. Add one with `waxell-observe prompts add NAME --text ...`; agents fetch it with get_prompt(), which records its use on the run.",
      },
    ),
    pager({ total: data.total || 0, limit: LIMIT, offset, label: "prompts", onGo: (o) => setParams({ ...p, offset: o || "" }) }),
  );
}

/** The text of a version: a text prompt as one block, a chat prompt as its messages. */
function promptContent(version) {
  const content = version.content;
  if (Array.isArray(content)) {
    return h(
      "ol",
      { class: "prompt-messages", "data-testid": "prompt-content" },
      content.map((message) =>
        h(
          "li",
          { class: "prompt-message" },
          h("span", { class: "prompt-role" }, message && typeof message === "object" ? String(message.role ?? "") : ""),
          h("pre", { class: "prompt-text" }, promptText(message && typeof message === "object" ? message.content : message)),
        ),
      ),
    );
  }
  return h("pre", { class: "prompt-text", "data-testid": "prompt-content", tabindex: "0" }, promptText(content));
}

function versionSelect(label, name, versions, selected, onChange) {
  return h(
    "label",
    { class: "field field-inline" },
    h("span", { class: "field-label" }, label),
    h(
      "select",
      { name, "data-testid": "diff-" + name, onchange: (e) => onChange(Number(e.target.value)) },
      versions.map((v) => h("option", { value: String(v.version), selected: v.version === selected }, "v" + v.version + (v.labels.length ? " (" + v.labels.join(", ") + ")" : ""))),
    ),
  );
}

/** The diff between two versions, line by line, as text. */
function diffSection(versions, from, to, onChange) {
  const a = versions.find((v) => v.version === from);
  const b = versions.find((v) => v.version === to);
  const controls = h(
    "div",
    { class: "btn-row" },
    versionSelect("From", "from", versions, from, (value) => onChange(value, to)),
    versionSelect("To", "to", versions, to, (value) => onChange(from, value)),
  );
  if (!a || !b) return section("Compare versions", controls);
  const lines = lineDiff(promptText(a.content), promptText(b.content));
  const added = lines.filter((l) => l.op === "add").length;
  const removed = lines.filter((l) => l.op === "del").length;
  const configChanged = JSON.stringify(a.config || {}) !== JSON.stringify(b.config || {});
  const marks = { same: "  ", del: "- ", add: "+ " };
  return section(
    "Compare versions",
    controls,
    h(
      "p",
      { class: "muted small", "data-testid": "diff-stats" },
      a.version === b.version
        ? "The same version."
        : "+" + added + " −" + removed + " lines from v" + a.version + " to v" + b.version + (configChanged ? " · the config changed too" : ""),
    ),
    h(
      "pre",
      { class: "prompt-diff", "data-testid": "prompt-diff", tabindex: "0", "aria-label": "Changes from v" + a.version + " to v" + b.version },
      lines.map((line) => h("span", { class: "diff-line diff-" + line.op, "data-op": line.op }, marks[line.op] + line.text + "\n")),
    ),
    configChanged
      ? h("div", { class: "two-col" }, section("Config of v" + a.version, jsonBlock(a.config || {})), section("Config of v" + b.version, jsonBlock(b.config || {})))
      : null,
  );
}

function usageSection(version) {
  const u = version.usage;
  return section(
    "Usage of v" + version.version,
    cards([
      { label: "Runs", value: fmtInt(u.run_count), testid: "usage-runs" },
      { label: "LLM calls", value: fmtInt(u.llm_calls), sub: fmtInt(u.linked_calls.count) + " sent this version's text", testid: "usage-calls" },
      { label: "Tokens", value: fmtTokens(u.tokens_in + u.tokens_out), sub: fmtInt(u.tokens_in) + " in · " + fmtInt(u.tokens_out) + " out" },
      { label: "Cost", value: fmtCost(u.total_cost), sub: "of those runs", testid: "usage-cost" },
    ]),
    table(
      [
        { label: "Score", cell: (s) => s.name },
        { label: "Mean", cell: (s) => fmtScore(s.mean), class: "num" },
        { label: "Scores", cell: (s) => fmtInt(s.count), class: "num" },
      ],
      u.scores,
      { caption: "Mean scores of the runs", testid: "usage-scores", empty: "No numeric or boolean scores on these runs." },
    ),
    h("h3", { class: "h-small prompt-runs-head" }, "Newest runs"),
    table(
      [
        { label: "Run", cell: (r) => runLink(r.run_id) },
        { label: "Status", cell: (r) => statusBadge(r.status) },
        { label: "Agent", cell: (r) => r.agent_name },
        { label: "Started", cell: (r) => timeCell(r.started_at) },
        { label: "Tokens", cell: (r) => fmtTokens(r.tokens_in + r.tokens_out), class: "num", hideSmall: true },
        { label: "Cost", cell: (r) => fmtCost(r.total_cost), class: "num" },
        { label: "Scores", cell: (r) => runScores(r.scores) },
      ],
      u.recent_runs,
      { caption: "Runs that used v" + version.version, testid: "usage-runs-table", empty: "No run used this version yet." },
    ),
  );
}

export async function renderPrompt(ctx) {
  const name = ctx.args[0];
  const p = Object.fromEntries(ctx.params.entries());
  const data = await read("prompts/" + encodeURIComponent(name) + "/");
  if (!ctx.alive()) return;
  ctx.setTitle("Prompt " + name);
  const versions = data.versions || [];
  const byNumber = (value) => versions.find((v) => v.version === Number(value));
  const shown = byNumber(p.v) || versions[0];
  const to = byNumber(p.to) ? Number(p.to) : shown.version;
  const older = versions.find((v) => v.version < to);
  const from = byNumber(p.from) ? Number(p.from) : older ? older.version : to;
  const go = (params) => setParams({ v: shown.version, from, to, ...params });
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/prompts" }, "Prompts"), " / ", h("span", null, name)),
    pageHeader("Prompt " + name, h("a", { class: "btn btn-small", href: href("/runs") }, "All runs")),
    cards([
      { label: "Latest version", value: "v" + data.latest_version, sub: data.prompt_type + " prompt" },
      { label: "Versions", value: fmtInt(data.version_count) },
      { label: "Runs", value: fmtInt(data.run_count), sub: data.unattributed_run_count ? fmtInt(data.unattributed_run_count) + " named only a label" : undefined, testid: "prompt-runs" },
      { label: "Labels", value: labelChips(data.labels) },
    ]),
    section(
      "Versions",
      table(
        [
          { label: "Version", cell: (v) => h("a", { href: promptHref(name, { v: v.version }), "aria-current": v.version === shown.version ? "true" : null }, "v" + v.version) },
          { label: "Labels", cell: (v) => labelChips(v.labels) },
          { label: "Created", cell: (v) => timeCell(v.created_at) },
          { label: "Runs", cell: (v) => fmtInt(v.usage.run_count), class: "num" },
          { label: "LLM calls", cell: (v) => fmtInt(v.usage.llm_calls), class: "num", hideSmall: true },
          { label: "Cost", cell: (v) => fmtCost(v.usage.total_cost), class: "num" },
          { label: "Scores", cell: (v) => scoreSummary(v.usage.scores), hideSmall: true },
          { label: "Hash", cell: (v) => h("code", { title: v.content_hash }, String(v.content_hash).slice(0, 10)), hideSmall: true },
        ],
        versions,
        {
          caption: "Versions of " + name,
          testid: "prompt-versions-table",
          rowAttrs: (v) => ({ class: v.version === shown.version ? "row-selected" : null, "data-version": String(v.version) }),
        },
      ),
    ),
    section(
      "Version " + shown.version,
      h("p", { class: "muted small" }, "Labels: ", labelChips(shown.labels), " · created ", timeCell(shown.created_at), " · hash ", h("code", null, shown.content_hash)),
      promptContent(shown),
      Object.keys(shown.config || {}).length ? h("details", { class: "numbers" }, h("summary", null, "Config"), jsonBlock(shown.config, "Config of v" + shown.version)) : null,
    ),
    usageSection(shown),
    versions.length > 1 ? diffSection(versions, from, to, (a, b) => go({ from: a, to: b })) : null,
  );
}
