// @ts-check
// The trace timeline (waterfall) of a run: one row per LLM call, step, span and child run,
// positioned by started_at and duration_ms, nested by parent_span_id, each expandable to
// its inputs, outputs and previews. Child runs load their own trace on demand.

import { h, replace } from "./dom.js";
import { read } from "./api.js";
import { fmtCost, fmtDuration, fmtInt, fmtTime, oneLine, toMs } from "./format.js";
import { href, jsonBlock, kvList, runLink, statusBadge } from "./components.js";

export const KINDS = {
  run: { label: "Run", order: 0 },
  llm: { label: "LLM", order: 1 },
  step: { label: "Step", order: 2 },
  tool: { label: "Tool", order: 3 },
  retrieval: { label: "Retrieval", order: 4 },
  decision: { label: "Decision", order: 5 },
  reasoning: { label: "Reasoning", order: 6 },
  retry: { label: "Retry", order: 7 },
  policy: { label: "Policy", order: 8 },
  io: { label: "Message", order: 9 },
  prompt: { label: "Prompt", order: 10 },
  memory: { label: "Memory", order: 10.5 },
  chain: { label: "Chain", order: 11 },
  agent: { label: "Agent", order: 12 },
  custom: { label: "Span", order: 13 },
  child: { label: "Child run", order: 14 },
};

// Behaviour records sent as steps over the wire protocol carry output._kind.
const STEP_KIND = {
  tool_call: "tool",
  retrieval: "retrieval",
  decision: "decision",
  reasoning: "reasoning",
  retry: "retry",
  user_message: "io",
  agent_response: "io",
  policy: "policy",
};

function isEmpty(value) {
  if (value === null || value === undefined || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

function block(title, value) {
  if (isEmpty(value)) return null;
  return h("div", { class: "tl-block" }, h("h4", null, title), jsonBlock(value, title));
}

function llmDetail(c) {
  const attrs = { ...(c.attributes || {}) };
  const messages = attrs.messages;
  delete attrs.messages;
  return [
    kvList([
      ["Model", c.model],
      ["Provider", c.provider],
      c.task ? ["Task", c.task] : null,
      ["Tokens", fmtInt(c.tokens_in) + " in · " + fmtInt(c.tokens_out) + " out"],
      ["Cost", fmtCost(c.cost)],
      ["Duration", fmtDuration(c.duration_ms)],
      ["Started", fmtTime(c.started_at)],
      ["Status", statusBadge(c.status)],
      c.error_type || c.error_message ? ["Error", (c.error_type ? c.error_type + ": " : "") + (c.error_message || "")] : null,
    ]),
    block("Prompt", c.prompt_preview),
    block("Response", c.response_preview),
    block("Messages", messages),
    block("Attributes", attrs),
  ];
}

function spanDetail(sp) {
  const a = sp.attributes || {};
  const pairs = [
    ["Kind", sp.kind],
    ["Status", statusBadge(sp.status)],
    ["Duration", fmtDuration(sp.duration_ms)],
    ["Started", fmtTime(sp.started_at)],
  ];
  let attrs = a;
  if (sp.kind === "policy") {
    pairs.push(["Policy", a.policy_name || sp.name], ["Action", statusBadge(a.action)], ["Phase", a.phase || "–"], ["Category", a.category || "–"], ["Reason", a.reason || "–"]);
    attrs = a.metadata || {};
  } else if (sp.kind === "decision") {
    pairs.push(["Chosen", oneLine(sp.output && sp.output.chosen)], ["Confidence", a.confidence === null || a.confidence === undefined ? "–" : String(a.confidence)], ["Reasoning", a.reasoning || "–"]);
  } else if (sp.kind === "reasoning") {
    pairs.push(["Thought", a.thought || "–"], ["Conclusion", a.conclusion || "–"]);
  } else if (sp.kind === "prompt" && a.name) {
    // the managed prompt this run used: its page, at the version used
    const target = href("/prompts/" + encodeURIComponent(a.name), a.version ? { v: a.version } : {});
    pairs.push(["Prompt", h("a", { href: target, "data-testid": "prompt-link" }, a.name + (a.version ? " v" + a.version : a.label ? " (" + a.label + ")" : ""))]);
  } else if (sp.kind === "retry") {
    pairs.push(["Attempt", a.max_attempts ? a.attempt + " of " + a.max_attempts : String(a.attempt)], ["Strategy", a.strategy || "–"], ["Reason", a.reason || "–"]);
    if (a.original_error) pairs.push(["Original error", a.original_error]);
    if (a.fallback_to) pairs.push(["Fallback to", a.fallback_to]);
  }
  if (sp.error) pairs.push(["Error", sp.error]);
  return [kvList(pairs), block("Input", sp.input), block("Output", sp.output), block(sp.kind === "policy" ? "Metadata" : "Attributes", attrs)];
}

function stepDetail(st) {
  return [kvList([["Step", "#" + st.position], ["Recorded", fmtTime(st.started_at)]]), block("Output", st.output)];
}

function runDetailBlock(run) {
  return [
    kvList([
      ["Status", statusBadge(run.status)],
      ["Duration", fmtDuration(run.duration_ms)],
      ["Tokens", fmtInt(run.tokens_in) + " in · " + fmtInt(run.tokens_out) + " out"],
      ["Cost", fmtCost(run.total_cost)],
      run.error ? ["Error", run.error] : null,
    ]),
    block("Inputs", run.inputs),
    block("Result", run.result),
  ];
}

/** A memory span: a read's outcome (hit with its result count and top score, or miss), a write's tier and scope. */
function memorySummary(sp, a) {
  if (a.operation === "read") {
    const query = sp.input && sp.input.summary ? "“" + oneLine(sp.input.summary, 50) + "” " : "";
    if (!a.hit) return query + "miss";
    const top = a.recall_top_score !== undefined && a.recall_top_score !== null ? " · top " + a.recall_top_score : "";
    return query + "hit · " + (a.recall_results_count || 0) + " result(s)" + top;
  }
  return [a.tier, a.scope_key].filter(Boolean).join(" @ ") + (sp.error ? " · " + oneLine(sp.error, 60) : "");
}

function spanSummary(sp) {
  const a = sp.attributes || {};
  switch (sp.kind) {
    case "tool":
      return oneLine(sp.output, 90) || oneLine(sp.input, 90);
    case "retrieval": {
      const query = sp.input && sp.input.query ? "“" + oneLine(sp.input.query, 60) + "”" : "";
      const docs = a.document_count !== undefined ? a.document_count + " docs" : "";
      return query && docs ? query + " → " + docs : query || docs;
    }
    case "decision": {
      const chosen = oneLine(sp.output && sp.output.chosen, 60);
      return chosen ? "→ " + chosen : "";
    }
    case "reasoning":
      return oneLine(a.conclusion || a.thought, 90);
    case "retry":
      return "attempt " + a.attempt + (a.reason ? " · " + oneLine(a.reason, 70) : "");
    case "policy":
      return (a.action || "") + (a.phase ? " · " + a.phase : "") + (a.reason ? " · " + oneLine(a.reason, 60) : "");
    case "io":
      return oneLine(sp.input || sp.output || a.preview, 90);
    case "memory":
      return memorySummary(sp, a);
    default:
      return sp.error ? oneLine(sp.error, 90) : oneLine(sp.output, 90);
  }
}

/** The entries of one run, flat, each with its parent id (or null). */
export function buildEntries(run, prefix = "") {
  const entries = [];
  const children = run.children || [];
  const childIds = new Set(children.map((c) => c.run_id));
  for (const c of run.llm_calls || []) {
    entries.push({
      id: prefix + "llm:" + c.id,
      ref: c.id,
      kind: "llm",
      name: c.model + (c.task ? " · " + c.task : ""),
      summary: fmtInt(c.tokens_in) + " → " + fmtInt(c.tokens_out) + " tokens · " + fmtCost(c.cost),
      start: toMs(c.started_at),
      dur: c.duration_ms,
      status: c.status,
      position: c.position,
      parentRef: c.parent_span_id || "",
      detail: () => llmDetail(c),
    });
  }
  for (const sp of run.spans || []) {
    const kind = KINDS[sp.kind] ? sp.kind : "custom";
    entries.push({
      id: prefix + "span:" + sp.id,
      ref: sp.id,
      kind,
      name: sp.name,
      summary: spanSummary(sp),
      start: toMs(sp.started_at),
      dur: sp.duration_ms,
      status: sp.kind === "policy" ? (sp.attributes || {}).action || sp.status : sp.status,
      position: sp.position,
      parentRef: sp.parent_span_id || "",
      detail: () => spanDetail(sp),
    });
  }
  for (const st of run.steps || []) {
    const out = st.output && typeof st.output === "object" ? st.output : {};
    if (out._kind === "delegation" && childIds.has(out.child_run_id)) continue; // drawn as the child run
    const kind = STEP_KIND[out._kind] || "step";
    entries.push({
      id: prefix + "step:" + st.position,
      ref: "",
      kind,
      name: st.name,
      summary: oneLine(out.preview !== undefined ? out.preview : st.output, 90),
      start: toMs(st.started_at),
      dur: null,
      status: "ok",
      position: st.position,
      parentRef: "",
      detail: () => stepDetail(st),
    });
  }
  for (const child of children) {
    entries.push({
      id: prefix + "child:" + child.run_id,
      ref: child.run_id,
      kind: "child",
      name: child.agent_name + (child.workflow_name && child.workflow_name !== "default" ? " · " + child.workflow_name : ""),
      summary: child.status + " · " + fmtInt(child.total_tokens) + " tokens · " + fmtCost(child.total_cost),
      start: toMs(child.started_at),
      dur: child.duration_ms,
      status: child.status,
      position: 0,
      parentRef: "",
      child,
      detail: null,
    });
  }
  return entries;
}

/** Order entries as a tree: roots by start time, each followed by its descendants. */
export function orderTree(entries, runStart) {
  const byRef = new Map();
  for (const e of entries) if (e.ref) byRef.set(e.ref, e);
  const kids = new Map();
  const roots = [];
  for (const e of entries) {
    if (e.start === null || (runStart !== null && e.start < runStart - 86400000)) {
      e.untimed = true;
      e.start = runStart;
    }
    const parent = e.parentRef && e.parentRef !== e.ref ? byRef.get(e.parentRef) : null;
    if (parent) {
      if (!kids.has(parent.id)) kids.set(parent.id, []);
      kids.get(parent.id).push(e);
    } else {
      roots.push(e);
    }
  }
  const cmp = (a, b) => (a.start ?? 0) - (b.start ?? 0) || (a.position || 0) - (b.position || 0) || KINDS[a.kind].order - KINDS[b.kind].order;
  const out = [];
  const seen = new Set();
  const walk = (list, depth) => {
    list.sort(cmp);
    for (const e of list) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      e.depth = depth;
      out.push(e);
      if (kids.has(e.id)) walk(kids.get(e.id), depth + 1);
    }
  };
  walk(roots, 0);
  return out;
}

function axis(t0, total) {
  return h(
    "div",
    { class: "tl-axis", "aria-hidden": "true" },
    h("div", { class: "tl-axis-label" }, "Started " + fmtTime(new Date(t0).toISOString())),
    h(
      "div",
      { class: "tl-axis-scale" },
      [0, 0.25, 0.5, 0.75, 1].map((f) => {
        const tick = h("span", { class: "tl-tick" }, fmtDuration(f * total));
        tick.style.left = f * 100 + "%";
        return tick;
      }),
    ),
  );
}

/**
 * The timeline of `run` as a new element. Long traces show 400 rows at a time ("show more").
 */
export function timeline(run) {
  const root = h("div", { class: "timeline", "data-testid": "timeline" });
  const state = {
    hidden: new Set(),
    open: new Set(),
    loaded: new Map(), // child run id -> detail
    loading: new Set(),
    errors: new Map(), // child run id -> message of a failed load
    limit: 400,
  };

  const runStart = toMs(run.started_at);
  const runEnd = toMs(run.ended_at);

  function allEntries() {
    const out = [];
    const add = (detail, prefix, parentRef) => {
      const list = buildEntries(detail, prefix);
      const refs = new Set(list.map((e) => e.ref).filter(Boolean));
      for (const e of list) {
        // entries of a loaded child run hang under that child's row
        if (parentRef && !(e.parentRef && refs.has(e.parentRef))) e.parentRef = parentRef;
        out.push(e);
        if (e.kind === "child" && state.loaded.has(e.ref)) add(state.loaded.get(e.ref), prefix + e.ref + "/", e.ref);
      }
    };
    add(run, "", "");
    return out;
  }

  function render(focusId) {
    const rows = orderTree(allEntries(), runStart);
    let t0 = runStart ?? Math.min(...rows.map((e) => e.start ?? Infinity));
    let t1 = runEnd ?? t0;
    for (const e of rows) {
      if (e.start === null) continue;
      t0 = Math.min(t0, e.start);
      t1 = Math.max(t1, e.start + (Number(e.dur) || 0));
    }
    if (!Number.isFinite(t0)) t0 = Date.now();
    if (!Number.isFinite(t1) || t1 <= t0) t1 = t0 + 1;
    const total = t1 - t0;

    const counts = {};
    for (const e of rows) counts[e.kind] = (counts[e.kind] || 0) + 1;
    const legend = h(
      "div",
      { class: "tl-legend", role: "group", "aria-label": "Show or hide kinds of entries" },
      Object.keys(counts)
        .sort((a, b) => KINDS[a].order - KINDS[b].order)
        .map((kind) =>
          h(
            "button",
            {
              type: "button",
              class: ["tl-filter", "kind-" + kind],
              "aria-pressed": state.hidden.has(kind) ? "false" : "true",
              "data-kind": kind,
              onclick: () => {
                if (state.hidden.has(kind)) state.hidden.delete(kind);
                else state.hidden.add(kind);
                render();
              },
            },
            h("span", { class: "tl-swatch", "aria-hidden": "true" }),
            KINDS[kind].label + " " + counts[kind],
          ),
        ),
    );

    const visible = rows.filter((e) => !state.hidden.has(e.kind));
    const shown = visible.slice(0, state.limit);
    const list = h("ol", { class: "tl-rows", "aria-label": "Trace entries" });

    // the run itself
    list.appendChild(
      row(
        {
          id: "run",
          kind: "run",
          name: run.agent_name + (run.workflow_name && run.workflow_name !== "default" ? " · " + run.workflow_name : ""),
          summary: (run.error ? oneLine(run.error, 80) : fmtInt(run.total_tokens) + " tokens · " + fmtCost(run.total_cost)),
          start: runStart ?? t0,
          dur: run.duration_ms,
          status: run.status,
          depth: 0,
          detail: () => runDetailBlock(run),
        },
        t0,
        total,
      ),
    );
    for (const e of shown) list.appendChild(row(e, t0, total));

    const more =
      visible.length > shown.length
        ? h(
            "button",
            { type: "button", class: "btn tl-more", onclick: () => { state.limit += 400; render(); } },
            "Show " + Math.min(400, visible.length - shown.length) + " more of " + (visible.length - shown.length) + " remaining entries",
          )
        : null;

    replace(root, legend, axis(t0, total), list, more);
    if (focusId) {
      const target = root.querySelector('[data-entry="' + CSS.escape(focusId) + '"]');
      if (target) target.focus();
    }
  }

  function row(e, t0, total) {
    const open = state.open.has(e.id);
    const detailId = "tl-detail-" + e.id.replace(/[^A-Za-z0-9_-]/g, "_");
    const left = ((e.start ?? t0) - t0) / total;
    const dur = Number(e.dur) || 0;
    const width = dur / total;
    const bar = h("span", { class: ["tl-bar", "kind-" + e.kind, e.status === "error" || e.status === "block" || e.status === "blocked" ? "tl-bar-error" : "", dur ? "" : "tl-point"] });
    bar.style.left = Math.min(left * 100, 100) + "%";
    if (dur) bar.style.width = Math.max(width * 100, 0.35) + "%";
    const button = h(
      "button",
      {
        type: "button",
        class: "tl-head",
        "aria-expanded": open ? "true" : "false",
        "aria-controls": detailId,
        "data-entry": e.id,
        onclick: () => {
          if (state.open.has(e.id)) state.open.delete(e.id);
          else state.open.add(e.id);
          render(e.id);
        },
      },
      h(
        "span",
        { class: "tl-label" },
        h("span", { class: ["kind-badge", "kind-" + e.kind] }, KINDS[e.kind].label),
        h("span", { class: "tl-name" }, e.name),
        e.summary ? h("span", { class: "tl-summary" }, e.summary) : null,
      ),
      h("span", { class: "tl-dur" }, e.dur === null || e.dur === undefined ? (e.untimed ? "untimed" : "") : fmtDuration(e.dur)),
      h("span", { class: "tl-track", "aria-hidden": "true" }, bar),
    );
    const li = h("li", { class: ["tl-row", "depth-" + Math.min(e.depth || 0, 6)], "data-kind": e.kind, "data-testid": "timeline-entry" }, button);
    li.style.setProperty("--depth", String(e.depth || 0));
    if (open) {
      const detail = h("div", { class: "tl-detail", id: detailId });
      if (e.kind === "child") detail.appendChild(childDetail(e));
      else if (e.detail) for (const part of e.detail()) if (part) detail.appendChild(part);
      li.appendChild(detail);
    }
    return li;
  }

  function childDetail(e) {
    const c = e.child;
    const loaded = state.loaded.has(c.run_id);
    const loading = state.loading.has(c.run_id);
    const box = h(
      "div",
      null,
      kvList([
        ["Run", runLink(c.run_id, c.run_id)],
        ["Agent", c.agent_name],
        ["Status", statusBadge(c.status)],
        ["Duration", fmtDuration(c.duration_ms)],
        ["Tokens", fmtInt(c.total_tokens)],
        ["Cost", fmtCost(c.total_cost)],
      ]),
      h(
        "div",
        { class: "btn-row" },
        h("a", { class: "btn", href: "#/runs/" + encodeURIComponent(c.run_id) }, "Open child run"),
        h(
          "button",
          {
            type: "button",
            class: "btn",
            disabled: loading,
            onclick: async () => {
              if (loaded) {
                state.loaded.delete(c.run_id);
                render(e.id);
                return;
              }
              state.loading.add(c.run_id);
              state.errors.delete(c.run_id);
              render(e.id);
              try {
                state.loaded.set(c.run_id, await read("runs/" + encodeURIComponent(c.run_id) + "/"));
              } catch (err) {
                state.errors.set(c.run_id, err && err.message ? err.message : String(err));
              }
              state.loading.delete(c.run_id);
              render(e.id);
            },
          },
          loading ? "Loading…" : loaded ? "Hide its trace" : "Show its trace here",
        ),
      ),
      state.errors.has(c.run_id)
        ? h("p", { class: "notice notice-error", role: "alert" }, "Could not load the child run: " + state.errors.get(c.run_id))
        : null,
    );
    return box;
  }

  render();
  return root;
}
