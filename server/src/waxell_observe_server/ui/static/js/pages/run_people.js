// @ts-check
// People in a run (issue 12): human turns, pauses and approval rounds in the conversation timeline,
// and the cards of the Context tab that keep the person's time and the paused time out of the
// agent's active time (the read API's active_ms / paused_ms).

import { h } from "../dom.js";
import { fmtDuration, oneLine, toMs } from "../format.js";
import { runLink, statusBadge } from "../components.js";

const PAUSE_PHASE = "pause_marker";
const RESUME_PHASE = "post_resume";
const INTERACTIVE = "interactive";
const APPROVAL = "approval";

/** When a record was complete: its start plus its duration. */
function doneAt(startedAt, durationMs) {
  const start = toMs(startedAt);
  return start === null ? null : start + (Number(durationMs) || 0);
}

function field(value, key) {
  return value && typeof value === "object" ? value[key] : undefined;
}

/** Whether a span is a human turn (record_human_interaction, human_turn, input). */
export function isHumanTurn(sp) {
  return sp.kind === "io" && (sp.attributes || {})["io.direction"] === INTERACTIVE;
}

/** Whether a span is a pause marker (pause()). */
export function isPause(sp) {
  return sp.kind === "io" && (sp.attributes || {})._phase === PAUSE_PHASE;
}

/**
 * Conversation items for the people in a run: a human turn is shown when the person answered
 * (its end); a pause and an approval request where they began, an approval decision where it came.
 */
export function peopleItems(run) {
  const items = [];
  for (const sp of run.spans || []) {
    const a = sp.attributes || {};
    if (isHumanTurn(sp)) {
      items.push({
        kind: "human",
        at: doneAt(sp.started_at, sp.duration_ms),
        pos: sp.position,
        channel: a["io.channel"] || "",
        action: a["io.action"] || "",
        prompt: field(sp.input, "prompt") || "",
        response: field(sp.output, "response") || "",
        dur: sp.duration_ms,
      });
    } else if (isPause(sp)) {
      items.push({ kind: "pause", at: toMs(sp.started_at), pos: sp.position, reason: a.pause_reason || "", dur: sp.duration_ms });
    } else if (sp.kind === "io" && a._phase === RESUME_PHASE) {
      items.push({ kind: "resume", at: toMs(sp.started_at), pos: sp.position, from: a.resumed_from_run_id || "" });
    } else if (sp.kind === "policy" && a.category === APPROVAL) {
      const meta = a.metadata && typeof a.metadata === "object" ? a.metadata : {};
      items.push({ kind: "approval", at: toMs(sp.started_at), pos: sp.position, action: String(a.action || ""), reason: a.reason || "", meta });
    }
  }
  return items;
}

/** The "who" label and the body of a people item of the conversation thread (null: not one). */
export function peopleEntry(it) {
  if (it.kind === "human") {
    return {
      who: "Human" + (it.channel ? " · " + it.channel : "") + (it.action ? " · " + it.action : ""),
      body: h(
        "div",
        { class: "convo-human", "data-testid": "convo-human" },
        it.prompt ? h("div", { class: "convo-asked" }, h("span", { class: "muted" }, "asked "), it.prompt) : null,
        h("div", { class: "convo-text" }, it.response || h("span", { class: "muted" }, "(no answer)")),
        it.dur !== null && it.dur !== undefined ? h("span", { class: "convo-stats" }, "answered in " + fmtDuration(it.dur)) : null,
      ),
    };
  }
  if (it.kind === "pause") {
    return {
      who: "Paused",
      body: h("div", { class: "convo-text" }, (it.reason || "waiting") + (it.dur !== null && it.dur !== undefined ? " · " + fmtDuration(it.dur) : "")),
    };
  }
  if (it.kind === "resume") {
    return { who: "Resumed", body: h("div", { class: "convo-text" }, it.from ? ["from run ", runLink(it.from)] : "resumed") };
  }
  if (it.kind === "approval") {
    const m = it.meta;
    if (it.action === "approval_requested") {
      const approvers = Array.isArray(m.approvers) && m.approvers.length ? m.approvers.join(", ") : "anyone";
      const timeout = typeof m.timeout_minutes === "number" ? " · timeout " + m.timeout_minutes + " min" : "";
      return {
        who: "Approval requested · " + (m.action_type || ""),
        body: h("div", { class: "convo-text" }, oneLine(it.reason, 240), h("span", { class: "convo-stats" }, " approvers: " + approvers + timeout)),
      };
    }
    const decision = String(m.decision || it.action.replace(/^approval_/, ""));
    return {
      who: "Approval · " + (m.action_type || ""),
      body: h(
        "div",
        { class: "convo-text" },
        statusBadge(decision === "approved" ? "approved" : decision === "timeout" ? "expired" : decision === "denied" ? "denied" : decision),
        m.approver ? " by " + m.approver : "",
        typeof m.elapsed_seconds === "number" ? h("span", { class: "convo-stats" }, " after " + fmtDuration(m.elapsed_seconds * 1000)) : "",
      ),
    };
  }
  return null;
}

/** Context tab cards: the agent's active time (without pauses), the paused time, the people's time. */
export function peopleCards(run) {
  const turns = (run.spans || []).filter(isHumanTurn);
  const humanMs = turns.reduce((sum, sp) => sum + (Number(sp.duration_ms) || 0), 0);
  const pauses = (run.spans || []).filter(isPause).length;
  return [
    {
      label: "Active time",
      value: fmtDuration(run.active_ms ?? run.duration_ms),
      sub: run.paused_ms ? "of " + fmtDuration(run.duration_ms) + " (pauses excluded)" : "no pauses",
      testid: "ctx-active-time",
    },
    { label: "Paused", value: fmtDuration(run.paused_ms || 0), sub: pauses + " pause" + (pauses === 1 ? "" : "s"), testid: "ctx-paused-time" },
    { label: "Human turns", value: String(turns.length), sub: turns.length ? fmtDuration(humanMs) + " of people's time" : "", testid: "ctx-human-turns" },
  ];
}
