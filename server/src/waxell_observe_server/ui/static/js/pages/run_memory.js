// @ts-check
// The Memory tab of a run: what the agent's memory held at the start, every write and every recall
// (hit or miss, results, top score), the hit rate, and the memories the run kept
// (GET /api/v1/read/runs/{id}/memory/; docs/memory.md).

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { fmtInt, oneLine } from "../format.js";
import { cards, jsonBlock, kvList, section, table, timeCell } from "../components.js";

/** How many memory operations the run recorded (the tab's count), from the run's conversation. */
export function memoryCount(run) {
  const state = (run.conversation || {}).memory_state || {};
  return (state.memory_writes || []).length + (state.memory_recalls || []).length;
}

function muted(text) {
  return h("span", { class: "muted" }, text);
}

function hitBadge(recall) {
  return recall.hit
    ? h("span", { class: "badge badge-ok", "data-testid": "memory-hit" }, "hit")
    : h("span", { class: "badge badge-warn", "data-testid": "memory-miss" }, "miss");
}

function score(value) {
  if (value === null || value === undefined) return muted("–");
  const v = Number(value);
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, "");
}

function preview(value, max = 160) {
  if (value === null || value === undefined || value === "") return muted("–");
  return h("span", { class: "mono", title: typeof value === "string" ? value : JSON.stringify(value) }, oneLine(value, max));
}

function results(recall) {
  if (!recall.results || !recall.results.length) return muted("–");
  return h(
    "details",
    null,
    h("summary", null, recall.results.length + " kept"),
    jsonBlock(recall.results, "Results of the recall " + (recall.query || "")),
  );
}

function hitRate(summary, recalls) {
  const reads = summary.read_count ?? recalls.length;
  if (!reads) return "–";
  const rate = summary.hit_rate ?? recalls.filter((r) => r.hit).length / reads;
  return (rate * 100).toFixed(1) + "%";
}

/** Render the Memory tab of `run` into `panel`. */
export async function memoryTab(run, panel, ctx) {
  const memory = await read("runs/" + encodeURIComponent(run.run_id) + "/memory/");
  if (!ctx.alive()) return;
  const state = memory.state || {};
  const writes = memory.writes || [];
  const recalls = memory.recalls || [];
  const summary = memory.summary || {};
  const stored = memory.stored || [];
  const hits = summary.hit_count ?? recalls.filter((r) => r.hit).length;
  const stateKnown = Object.keys(state).length > 0;
  replace(
    panel,
    cards([
      { label: "Writes", value: fmtInt(summary.write_count ?? writes.length), testid: "memory-writes-count" },
      { label: "Recalls", value: fmtInt(summary.read_count ?? recalls.length), sub: fmtInt(hits) + " hit(s)", testid: "memory-reads-count" },
      { label: "Hit rate", value: hitRate(summary, recalls), testid: "memory-hit-rate" },
      { label: "Kept", value: fmtInt(stored.length), sub: "memories stored by this run", testid: "memory-kept-count" },
    ]),
    section(
      "Memory state",
      stateKnown || (summary.stores || []).length || (summary.tiers || []).length
        ? h(
            "div",
            { "data-testid": "memory-state" },
            kvList([
              "memory_item_count" in state ? ["Items at start", fmtInt(state.memory_item_count)] : null,
              "cross_session_loaded" in state ? ["Loaded from an earlier session", state.cross_session_loaded ? "yes" : "no"] : null,
              (summary.stores || []).length ? ["Stores", summary.stores.join(", ")] : null,
              (summary.tiers || []).length ? ["Tiers", summary.tiers.join(", ")] : null,
            ]),
            state.memory_items && state.memory_items.length
              ? h("details", null, h("summary", null, state.memory_items.length + " item(s) at start"), jsonBlock(state.memory_items, "Memory items at start"))
              : null,
          )
        : h("p", { class: "empty" }, "The run did not describe its memory's state (set_memory_state)."),
    ),
    section(
      "Recalls",
      table(
        [
          { label: "Query", cell: (r) => preview(r.query, 120) },
          { label: "Tier", cell: (r) => h("span", { class: "chip" }, r.tier || "–") },
          { label: "Store", cell: (r) => r.store || muted("–"), hideSmall: true },
          { label: "Outcome", cell: hitBadge },
          { label: "Results", cell: (r) => fmtInt(r.results_count || 0), class: "num" },
          { label: "Top score", cell: (r) => score(r.top_score), class: "num" },
          { label: "Kept results", cell: results, hideSmall: true },
        ],
        recalls,
        { caption: "Memory recalls", testid: "memory-recalls", empty: "No memory recalls were recorded for this run." },
      ),
    ),
    section(
      "Writes",
      table(
        [
          { label: "Tier", cell: (w) => h("span", { class: "chip" }, w.memory_type || "–") },
          { label: "Slot", cell: (w) => w.slot_name || muted("–") },
          { label: "Scope", cell: (w) => (w.scope_key ? h("code", null, w.scope_key) : muted("–")), hideSmall: true },
          { label: "Content", cell: (w) => preview(w.content) },
        ],
        writes,
        { caption: "Memory writes", testid: "memory-writes", empty: "No memory writes were recorded for this run." },
      ),
    ),
    section(
      "Kept by this run",
      table(
        [
          { label: "Tier", cell: (m) => h("span", { class: "chip" }, m.tier) },
          { label: "Slot", cell: (m) => m.slot_name },
          { label: "Scope", cell: (m) => h("code", null, m.scope_key), hideSmall: true },
          { label: "Memory", cell: (m) => preview(m.tier === "semantic" ? m.content : m.data) },
          { label: "Fact key", cell: (m) => m.fact_key || muted("–"), hideSmall: true },
          { label: "Expires", cell: (m) => (m.expires_at ? timeCell(m.expires_at) : muted("never")), hideSmall: true },
        ],
        stored,
        {
          caption: "Memories kept",
          testid: "memory-stored",
          empty: "This run kept no memories (remember_episodic / remember_semantic keep them; see docs/memory.md).",
        },
      ),
    ),
  );
}
