// @ts-check
// One run: header, then tabs Trace (timeline), Context, Memory, Scores, Governance, Logs and Raw.

import { h, replace } from "../dom.js";
import { modelInfo, read } from "../api.js";
import { fmtCost, fmtDuration, fmtInt, fmtPct, fmtTime, oneLine, pretty, toMs } from "../format.js";
import { gauge, utilizationChart } from "../charts.js";
import { timeline } from "../timeline.js";
import { logsTab } from "./run_logs.js";
import { memoryCount, memoryTab } from "./run_memory.js";
import { peopleCards, peopleEntry, peopleItems } from "./run_people.js";
import {
  cards,
  errorBox,
  href,
  jsonBlock,
  kvList,
  pageHeader,
  runLink,
  section,
  sessionLink,
  statusBadge,
  tabList,
  table,
  tagChips,
  timeCell,
  userLink,
} from "../components.js";

const TABS = [
  { id: "trace", label: "Trace" },
  { id: "context", label: "Context" },
  { id: "memory", label: "Memory" },
  { id: "scores", label: "Scores" },
  { id: "governance", label: "Governance" },
  { id: "logs", label: "Logs" },
  { id: "raw", label: "Raw" },
];

function header(run) {
  const pairs = [
    ["Agent", h("a", { href: href("/runs", { agent_name: run.agent_name }) }, run.agent_name)],
    ["Workflow", h("a", { href: href("/runs", { workflow_name: run.workflow_name }) }, run.workflow_name)],
    ["Session", sessionLink(run.session_id)],
    ["User", userLink(run.user_id)],
    run.user_group ? ["User group", h("a", { href: href("/runs", { user_group: run.user_group }) }, run.user_group)] : null,
    ["Started", timeCell(run.started_at)],
    ["Ended", run.ended_at ? timeCell(run.ended_at) : h("span", { class: "muted" }, "still running")],
    run.parent_run_id ? ["Parent run", runLink(run.parent_run_id)] : null,
    run.root_run_id && run.root_run_id !== run.parent_run_id ? ["Root run", runLink(run.root_run_id)] : null,
    ["Mode", run.interaction_mode || "–"],
    run.source && run.source !== "sdk" ? ["Source", run.source] : null,
    run.auto_collected ? ["Collected", "automatically (no run was active)"] : null,
    run.trace_id ? ["Trace id", h("code", null, run.trace_id)] : null,
    ["Tags", tagChips(run.tags)],
  ];
  const metadata = run.metadata || {};
  const metaKeys = Object.keys(metadata);
  return h(
    "div",
    { class: "run-header" },
    cards([
      { label: "Status", value: statusBadge(run.status), testid: "run-status" },
      { label: "Duration", value: fmtDuration(run.duration_ms), testid: "run-duration" },
      { label: "Tokens", value: fmtInt(run.total_tokens), sub: fmtInt(run.tokens_in) + " in · " + fmtInt(run.tokens_out) + " out", testid: "run-tokens" },
      { label: "Cost", value: fmtCost(run.total_cost), testid: "run-cost" },
      { label: "LLM calls", value: fmtInt(run.llm_call_count), sub: fmtInt(run.step_count) + " steps · " + fmtInt(run.span_count) + " spans" },
    ]),
    h(
      "div",
      { class: "run-meta" },
      kvList(pairs),
      h(
        "div",
        { class: "run-metadata" },
        h("h2", { class: "h-small" }, "Metadata"),
        metaKeys.length
          ? kvList(metaKeys.map((k) => [k, typeof metadata[k] === "string" ? metadata[k] : h("code", null, oneLine(metadata[k], 200))]))
          : h("p", { class: "muted" }, "No metadata."),
      ),
    ),
    run.error || run.traceback
      ? h(
          "div",
          { class: "notice notice-error", "data-testid": "run-error" },
          h("strong", null, (run.error_type ? run.error_type + ": " : "Error: ")),
          run.error,
          run.traceback ? h("details", null, h("summary", null, "Traceback"), h("pre", { class: "json" }, run.traceback)) : null,
        )
      : null,
  );
}

// -- Context tab ------------------------------------------------------------------------

function ioText(record) {
  const a = record.attributes || {};
  const v = record.name === "user_message" ? record.input : record.output;
  if (typeof v === "string" && v) return v;
  if (v !== null && v !== undefined && v !== "") return pretty(v);
  return a.preview || "";
}

/** Per-call utilization: stored attribute when present, else tokens_in / context window. */
export function callUtilization(call, models) {
  const a = call.attributes || {};
  const stored = (a.context && a.context.utilization_pct) ?? a["waxell.context.utilization_pct"] ?? a.context_utilization_pct;
  if (typeof stored === "number") return stored;
  const info = models[call.model];
  const window = info && info.context_window;
  if (!window) return null;
  return Math.round((call.tokens_in / window) * 1000) / 10;
}

/** When a record was complete: its start plus its duration (an LLM call counts when it answered). */
function doneAt(startedAt, durationMs) {
  const start = toMs(startedAt);
  return start === null ? null : start + (Number(durationMs) || 0);
}

/**
 * The conversation thread: user messages, LLM calls, tool calls and agent responses, in the
 * order they were complete (so a 400 ms LLM call comes after the message it answered).
 */
export function conversationItems(run, utilByCall) {
  const items = [];
  for (const sp of run.spans || []) {
    if (sp.kind === "io" && (sp.name === "user_message" || sp.name === "agent_response")) {
      items.push({ kind: sp.name, at: doneAt(sp.started_at, sp.duration_ms), pos: sp.position, text: ioText(sp) });
    } else if (sp.kind === "tool") {
      items.push({ kind: "tool", at: doneAt(sp.started_at, sp.duration_ms), pos: sp.position, name: sp.name, input: sp.input, output: sp.output, status: sp.status, dur: sp.duration_ms });
    }
  }
  for (const st of run.steps || []) {
    const out = st.output && typeof st.output === "object" ? st.output : {};
    if (out._kind === "user_message" || out._kind === "agent_response") {
      items.push({ kind: out._kind, at: toMs(st.started_at), pos: st.position, text: out.preview || out.text || "" });
    } else if (out._kind === "tool_call") {
      items.push({ kind: "tool", at: toMs(st.started_at), pos: st.position, name: st.name.replace(/^tool:/, ""), input: out.input, output: out.output, status: out.status || "ok" });
    }
  }
  items.push(...peopleItems(run)); // human turns, pauses, approvals
  const calls = (run.llm_calls || []).slice().sort((a, b) => a.position - b.position);
  for (const c of calls) {
    items.push({ kind: "llm", at: doneAt(c.started_at, c.duration_ms), pos: c.position, call: c, util: utilByCall.get(c.id) });
  }
  // A user message captured from an LLM call's messages is recorded just after that call;
  // in the thread it belongs just before it.
  for (const sp of run.spans || []) {
    if (sp.kind !== "io" || sp.name !== "user_message" || (sp.attributes || {}).source !== "auto") continue;
    const item = items.find((it) => it.pos === sp.position && it.kind === "user_message");
    const call = calls.filter((c) => c.position < sp.position).pop();
    if (item && call) {
      item.at = toMs(call.started_at);
      item.pos = call.position - 0.5;
    }
  }
  items.sort((a, b) => (a.at ?? 0) - (b.at ?? 0) || (a.pos || 0) - (b.pos || 0));
  return items;
}

function conversationThread(items, { runLinks = false } = {}) {
  if (!items.length) return h("p", { class: "empty", "data-testid": "conversation-empty" }, "No messages, LLM calls, tool calls or human turns were recorded.");
  return h(
    "ol",
    { class: "convo", "data-testid": "conversation-timeline" },
    items.map((it) => {
      let body;
      let who;
      const person = peopleEntry(it);
      if (person) {
        ({ who, body } = person);
      } else if (it.kind === "user_message") {
        who = "User";
        body = h("div", { class: "convo-text" }, it.text || h("span", { class: "muted" }, "(empty)"));
      } else if (it.kind === "agent_response") {
        who = "Agent";
        body = h("div", { class: "convo-text" }, it.text || h("span", { class: "muted" }, "(empty)"));
      } else if (it.kind === "tool") {
        who = "Tool · " + it.name;
        body = h(
          "div",
          { class: "convo-tool" },
          h("div", null, h("span", { class: "muted" }, "in "), h("code", null, oneLine(it.input, 200) || "–")),
          h("div", null, h("span", { class: "muted" }, "out "), h("code", null, oneLine(it.output, 200) || "–")),
          it.status === "error" ? statusBadge("error") : null,
        );
      } else {
        const c = it.call;
        who = "LLM · " + c.model;
        body = h(
          "div",
          { class: "convo-llm" },
          h(
            "span",
            { class: "convo-stats" },
            fmtInt(c.tokens_in) + " in · " + fmtInt(c.tokens_out) + " out · " + fmtCost(c.cost),
            it.util !== null && it.util !== undefined ? " · context " + fmtPct(it.util) : "",
            c.duration_ms ? " · " + fmtDuration(c.duration_ms) : "",
          ),
          c.response_preview ? h("div", { class: "convo-preview" }, oneLine(c.response_preview, 240)) : null,
        );
      }
      return h(
        "li",
        { class: ["convo-item", "convo-" + it.kind], "data-kind": it.kind },
        h(
          "div",
          { class: "convo-meta" },
          h("span", { class: "convo-who" }, who),
          it.at ? h("span", { class: "convo-at" }, fmtTime(new Date(it.at).toISOString())) : null,
          runLinks && it.runId ? runLink(it.runId) : null,
        ),
        body,
      );
    }),
  );
}

export { conversationThread };

async function contextTab(run, panel, ctx) {
  const conv = run.conversation || {};
  const calls = run.llm_calls || [];
  let models = {};
  let modelError = null;
  try {
    models = await modelInfo(calls.map((c) => c.model));
  } catch (e) {
    if (e.name === "AuthError") throw e;
    modelError = e;
  }
  if (!ctx.alive()) return;
  const utilByCall = new Map();
  const points = [];
  calls.forEach((c, i) => {
    const u = callUtilization(c, models);
    utilByCall.set(c.id, u);
    if (u !== null) points.push({ index: i + 1, pct: u, label: c.model + " · " + fmtInt(c.tokens_in) + " tokens in" });
  });
  const hasConv = Object.keys(conv).length > 0 && conv.context_utilization_pct !== undefined;
  const current = hasConv ? Number(conv.context_utilization_pct) : points.length ? points[points.length - 1].pct : 0;
  const peak = points.length ? Math.max(...points.map((p) => p.pct)) : null;
  const lastCall = calls.length ? calls[calls.length - 1] : null;
  const lastWindow = lastCall && models[lastCall.model] ? models[lastCall.model].context_window : null;
  const tokensInContext = hasConv ? conv.tokens_in_context : lastCall ? lastCall.tokens_in : 0;

  replace(
    panel,
    cards([
      { label: "User turns", value: fmtInt(conv.user_turns ?? 0), testid: "ctx-user-turns" },
      { label: "Messages", value: fmtInt(conv.message_count ?? 0), testid: "ctx-message-count" },
      { label: "Context utilization", value: fmtPct(current), testid: "ctx-utilization", tone: current >= 80 ? "bad" : current >= 50 ? "warn" : "" },
      { label: "Agent turns", value: fmtInt(conv.assistant_turns ?? 0) },
      { label: "Tool results", value: fmtInt(conv.tool_results ?? 0) },
      { label: "Tokens in context", value: fmtInt(tokensInContext), sub: lastWindow ? "of " + fmtInt(lastWindow) + " (" + lastCall.model + ")" : "" },
      ...peopleCards(run),
    ]),
    h(
      "div",
      { class: "context-charts" },
      h(
        "figure",
        { class: "panel gauge-panel" },
        h("figcaption", null, "Context window"),
        gauge(current, { peak, label: "of the context window" }),
        h("p", { class: "muted small center" }, peak !== null && peak > current ? "Peak " + fmtPct(peak) + " (tick mark)" : calls.length + " LLM call" + (calls.length === 1 ? "" : "s")),
      ),
      h(
        "figure",
        { class: "panel growth-panel" },
        h("figcaption", null, "Utilization growth across LLM calls"),
        utilizationChart(points),
        modelError ? h("p", { class: "notice notice-error" }, "Context windows could not be loaded: " + modelError.message) : null,
      ),
    ),
    h(
      "div",
      { class: "context-extra" },
      kvList([
        ["System prompt hash", conv.system_prompt_hash ? h("code", null, conv.system_prompt_hash) : ""],
        ["Tools used", (conv.tools_used || []).length ? h("span", { class: "chips" }, conv.tools_used.map((t) => h("span", { class: "chip" }, t))) : ""],
      ]),
    ),
    activitySignals(conv),
    section("Conversation", conversationThread(conversationItems(run, utilByCall))),
  );
}

// The conversation state's keys beyond the counters (record_communication, record_grounding,
// set_privacy_context, ...): one entry each, as JSON.
const COUNTER_KEYS = new Set([
  "user_turns", "message_count", "assistant_turns", "tool_results", "tokens_in_context",
  "context_utilization_pct", "system_prompt_hash", "tools_used",
]);

function activitySignals(conv) {
  const keys = Object.keys(conv).filter((k) => !COUNTER_KEYS.has(k));
  if (!keys.length) return null;
  return h(
    "div",
    { "data-testid": "ctx-signals" },
    section("Activity signals", kvList(keys.map((k) => [k, jsonBlock(conv[k], k)]))),
  );
}

// -- Scores, Governance, Raw ---------------------------------------------------------------

function scoreValue(sc) {
  if (sc.data_type === "boolean") return h("span", { class: ["badge", sc.value ? "badge-ok" : "badge-bad"] }, sc.value ? "true" : "false");
  if (sc.data_type === "numeric") {
    const v = Number(sc.value);
    const text = Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, "");
    if (v >= 0 && v <= 1) {
      const fill = h("span", { class: "meter-fill" });
      fill.style.width = v * 100 + "%";
      return h("span", { class: "meter-wrap" }, h("span", { class: "meter" }, fill), text);
    }
    return text;
  }
  return h("span", { class: "chip" }, String(sc.value));
}

function scoresTab(run, panel) {
  replace(
    panel,
    table(
      [
        { label: "Name", cell: (sc) => sc.name },
        { label: "Type", cell: (sc) => sc.data_type },
        { label: "Value", cell: scoreValue },
        { label: "Comment", cell: (sc) => sc.comment || h("span", { class: "muted" }, "–") },
        // who gave it: the agent (sdk), an experiment's evaluator or an online evaluator
        { label: "Source", cell: (sc) => sc.source || "sdk", hideSmall: true },
        { label: "Recorded", cell: (sc) => timeCell(sc.created_at), hideSmall: true },
      ],
      run.scores || [],
      { caption: "Scores", testid: "scores-table", empty: "No scores were recorded for this run." },
    ),
  );
}

export function policyRows(run) {
  return (run.spans || [])
    .filter((sp) => sp.kind === "policy")
    .map((sp) => {
      const a = sp.attributes || {};
      return {
        at: sp.started_at,
        phase: a.phase || "",
        policy: a.policy_name || sp.name,
        category: a.category || "",
        action: a.action || "",
        reason: a.reason || "",
        duration: sp.duration_ms,
        metadata: a.metadata || null,
      };
    });
}

async function governanceTab(run, panel, ctx) {
  const rows = policyRows(run);
  let events = [];
  let eventsError = null;
  try {
    const reply = await read("audit/", { run_id: run.run_id, limit: 500 });
    events = reply.events || [];
  } catch (e) {
    if (e.name === "AuthError") throw e;
    eventsError = e;
  }
  if (!ctx.alive()) return;
  const seen = new Set(rows.map((r) => [r.policy, r.action, r.phase].join("\u0000")));
  const extra = events.filter((e) => !(e.event === "policy_decision" && seen.has([e.policy_name, e.action, e.phase].join("\u0000"))));
  const outcome = run.governance || {};
  replace(
    panel,
    Object.keys(outcome).length
      ? section(
          "Post-execution outcome",
          kvList([
            ["Action", statusBadge(outcome.action)],
            ["Reason", outcome.reason || ""],
            outcome.retry_feedback ? ["Retry feedback", outcome.retry_feedback] : null,
            outcome.max_retries !== undefined && outcome.max_retries !== null ? ["Max retries", String(outcome.max_retries)] : null,
          ]),
        )
      : null,
    section(
      "Policy evaluations",
      table(
        [
          { label: "Time", cell: (r) => timeCell(r.at) },
          { label: "Phase", cell: (r) => h("span", { class: "chip" }, r.phase || "–") },
          { label: "Policy", cell: (r) => r.policy },
          { label: "Category", cell: (r) => r.category || "–", hideSmall: true },
          { label: "Action", cell: (r) => statusBadge(r.action) },
          { label: "Reason", cell: (r) => r.reason || h("span", { class: "muted" }, "–") },
          { label: "Took", cell: (r) => fmtDuration(r.duration), class: "num", hideSmall: true },
        ],
        rows,
        { caption: "Policy evaluations", testid: "governance-table", empty: "No policy decisions were recorded for this run (allowed evaluations are not recorded)." },
      ),
    ),
    extra.length || eventsError
      ? section(
          "Other audit events",
          eventsError ? h("p", { class: "notice notice-error" }, "The audit log could not be loaded: " + eventsError.message) : null,
          table(
            [
              { label: "Time", cell: (e) => timeCell(e.ts) },
              { label: "Event", cell: (e) => e.event },
              { label: "Policy", cell: (e) => e.policy_name || "–" },
              { label: "Action", cell: (e) => (e.action ? statusBadge(e.action) : "–") },
              { label: "Phase", cell: (e) => e.phase || "–" },
              { label: "Reason", cell: (e) => e.reason || "–" },
            ],
            extra,
            { caption: "Audit events", empty: "" },
          ),
        )
      : null,
  );
}

function rawTab(run, panel) {
  const text = JSON.stringify(run, null, 2);
  const status = h("span", { class: "muted small", "aria-live": "polite" });
  const blob = new Blob([text], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  replace(
    panel,
    h(
      "div",
      { class: "btn-row" },
      h(
        "button",
        {
          type: "button",
          class: "btn",
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(text);
              status.textContent = "Copied.";
            } catch (e) {
              status.textContent = "Copy is not available here; select the text instead.";
            }
          },
        },
        "Copy JSON",
      ),
      h("a", { class: "btn", href: url, download: "run-" + run.run_id + ".json" }, "Download"),
      status,
    ),
    h("pre", { class: "json json-raw", "data-testid": "raw-json", tabindex: "0", "aria-label": "The run as JSON" }, text),
  );
  return () => URL.revokeObjectURL(url);
}

// -- the page ------------------------------------------------------------------------------

export async function renderRun(ctx) {
  const runId = ctx.args[0];
  const run = await read("runs/" + encodeURIComponent(runId) + "/");
  if (!ctx.alive()) return;
  ctx.setTitle(run.agent_name + " run");
  let tab = TABS.some((t) => t.id === ctx.params.get("tab")) ? ctx.params.get("tab") : "trace";
  const policyCount = (run.spans || []).filter((sp) => sp.kind === "policy").length;
  const counts = { scores: (run.scores || []).length, governance: policyCount, memory: memoryCount(run) };
  const tabs = TABS.map((t) => ({ ...t, count: counts[t.id] }));
  const panel = h("div", { role: "tabpanel", id: "tabpanel", class: "tabpanel", tabindex: "0" });
  const tabsBox = h("div");
  let cleanup = null;
  ctx.onLeave(() => cleanup && cleanup());

  async function show(id, opts = {}) {
    tab = id;
    if (cleanup) cleanup();
    cleanup = null;
    const params = new URLSearchParams(ctx.params);
    if (id === "trace") params.delete("tab");
    else params.set("tab", id);
    const q = params.toString();
    history.replaceState(null, "", "#" + ctx.path + (q ? "?" + q : ""));
    replace(tabsBox, tabList(tabs, id, (next, o) => show(next, o).catch((err) => replace(panel, errorBox(err))), "Run sections"));
    panel.setAttribute("aria-labelledby", "tab-" + id);
    if (opts.focus) tabsBox.querySelector('[data-tab="' + id + '"]').focus();
    replace(panel, h("p", { class: "loading" }, "Loading…"));
    if (id === "trace") replace(panel, timeline(run));
    else if (id === "context") await contextTab(run, panel, ctx);
    else if (id === "memory") await memoryTab(run, panel, ctx);
    else if (id === "scores") scoresTab(run, panel);
    else if (id === "governance") await governanceTab(run, panel, ctx);
    else if (id === "logs") await logsTab(run, panel, ctx);
    else cleanup = rawTab(run, panel);
  }

  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/runs" }, "Runs"), " / ", h("span", { class: "mono" }, run.run_id)),
    pageHeader(run.agent_name, statusBadge(run.status), h("code", { class: "run-id", title: "Run id" }, run.run_id)),
    header(run),
    tabsBox,
    panel,
  );
  await show(tab);
}
