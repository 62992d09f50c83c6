// @ts-check
// Approvals: runs a policy stopped that wait for a person's answer — pending ones with who may approve and the
// time left (counting down), Approve / Deny for whoever signed in with a key that may answer (one of the
// approval's approvers, or any key when it names none) — and the answers given.
// Pending approvals are re-read every 2 seconds; the history follows the page's filter (#/approvals?status=).

import { h, replace } from "../dom.js";
import { AuthError, admin, read } from "../api.js";
import { setParams } from "../router.js";
import { VOCABULARY } from "../vocabulary.js";
import { cards, errorBox, pageHeader, pager, runLink, section, statusBadge, table, timeCell } from "../components.js";
import { fmtDuration, toMs } from "../format.js";

const REFRESH_MS = 2000;
const LIMIT = 50;
/** The statuses an approval can have, from the vocabulary (pending first). */
export const APPROVAL_STATUSES = VOCABULARY.approval_statuses;
const PENDING = APPROVAL_STATUSES[0];

/** "4 min 05 s" left, or "expired" once the deadline passed. */
export function timeLeftText(ms) {
  if (ms <= 0) return "expired";
  return fmtDuration(Math.ceil(ms / 1000) * 1000);
}

function approversCell(a) {
  if (!a.approvers || !a.approvers.length) return h("span", { class: "muted" }, "anyone with a key");
  return h("span", { class: "chips" }, a.approvers.map((name) => h("span", { class: "chip" }, name)));
}

function agentCell(a) {
  return [h("span", null, a.agent_name), a.workflow_name ? h("div", { class: "muted small" }, a.workflow_name) : null];
}

function policyCell(a) {
  if (!a.policy_name && !a.category) return h("span", { class: "muted" }, "–");
  return [h("span", null, a.policy_name || "–"), a.category ? h("div", { class: "muted small" }, a.category) : null];
}

export async function renderApprovals(ctx) {
  const p = Object.fromEntries(ctx.params.entries());
  const offset = Math.max(0, Number(p.offset) || 0);
  const historyStatus = APPROVAL_STATUSES.includes(p.status) ? p.status : "";

  const message = h("p", { class: "approval-message", role: "status", "aria-live": "polite", "data-testid": "approval-message" });
  const summary = h("div");
  const pendingBox = h("div", { "data-testid": "pending-approvals" });
  const historyBox = h("div", { "data-testid": "approval-history" });
  const refreshStatus = h("span", { class: "refresh-status muted", "aria-live": "off" });
  const filter = h(
    "label",
    { class: "field field-inline" },
    h("span", { class: "field-label" }, "Status"),
    h(
      "select",
      { name: "status", "data-testid": "history-status", onchange: (e) => setParams({ status: e.target.value, offset: "" }) },
      h("option", { value: "" }, "any"),
      APPROVAL_STATUSES.map((s) => h("option", { value: s, selected: s === historyStatus }, s)),
    ),
  );

  let skewMs = 0; // the server's clock minus ours: the countdown follows the server's deadlines
  let shownPending = "";
  let timer = null;
  let ticker = null;
  let busy = false;
  const comments = new Map();
  ctx.onLeave(() => {
    clearTimeout(timer);
    clearInterval(ticker);
  });

  function tick() {
    let passed = false;
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (pendingBox.querySelectorAll("[data-expires]"))) {
      const left = Number(el.dataset.expires) - (Date.now() + skewMs);
      el.textContent = timeLeftText(left);
      el.classList.toggle("time-short", left < 60000);
      if (left <= 0) passed = true;
    }
    if (passed && !busy) load().catch((e) => console.error(e));
  }

  async function answer(a, verb, buttons) {
    for (const b of buttons) b.disabled = true;
    busy = true;
    try {
      const done = await admin("approvals/" + encodeURIComponent(a.id) + "/" + verb + "/", { comment: comments.get(a.id) || "" });
      comments.delete(a.id);
      message.className = "approval-message notice";
      message.textContent = (done.status === "approved" ? "Approved" : "Denied") + " the approval of " + done.agent_name + " as " + done.decided_by + ".";
    } catch (error) {
      message.className = "approval-message notice notice-error";
      message.textContent =
        error instanceof AuthError && error.status === 401
          ? "Answering needs a valid API key: " + error.message
          : "Could not " + verb + " this approval: " + (error && error.message ? error.message : String(error));
    } finally {
      busy = false;
    }
    await load();
  }

  function answerCell(a, canDecide, decider) {
    if (!canDecide) return h("span", { class: "muted" }, "sign in with a key to answer");
    if (!a.may_decide) {
      // the approval names its approvers and this key is not one of them: the server would refuse (403)
      return h(
        "span",
        { class: "muted", "data-testid": "not-an-approver" },
        "only " + (a.approvers || []).join(", ") + " may answer; you answer as " + decider,
      );
    }
    const input = h("input", {
      type: "text",
      class: "approval-comment",
      placeholder: "comment (optional)",
      "aria-label": "Comment for the approval of " + a.agent_name,
      value: comments.get(a.id) || "",
      maxlength: "4000",
      oninput: (e) => comments.set(a.id, e.target.value),
    });
    const approve = h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "approve" }, "Approve");
    const deny = h("button", { type: "button", class: "btn btn-small btn-danger", "data-testid": "deny" }, "Deny");
    approve.addEventListener("click", () => answer(a, "approve", [approve, deny]));
    deny.addEventListener("click", () => answer(a, "deny", [approve, deny]));
    return h("div", { class: "approval-answer" }, input, h("div", { class: "btn-row" }, approve, deny));
  }

  function paintPending(data) {
    const rows = data.approvals || [];
    replace(
      summary,
      cards([
        { label: "Pending", value: String(data.total || 0), testid: "pending-count", tone: data.total ? "warn" : "" },
        { label: "You answer as", value: data.can_decide ? data.decider : "–", sub: data.can_decide ? "" : "no API key presented", testid: "decider" },
      ]),
    );
    replace(
      pendingBox,
      data.can_decide
        ? null
        : h(
            "p",
            { class: "notice", "data-testid": "needs-key" },
            "You can see what waits, but answering needs an API key: create one with ",
            h("code", null, "waxell-observe keys create --name <your name>"),
            " and sign in with it. The key's name is recorded as who decided.",
          ),
      table(
        [
          { label: "Agent", cell: agentCell },
          { label: "Run", cell: (a) => (a.run_id ? runLink(a.run_id) : h("span", { class: "muted" }, "–")), hideSmall: true },
          { label: "Action", cell: (a) => a.action_type || "–", hideSmall: true },
          { label: "Reason", cell: (a) => h("span", { class: "approval-reason" }, a.reason || "–") },
          { label: "Policy", cell: policyCell, hideSmall: true },
          { label: "Who may approve", cell: approversCell },
          { label: "Requested", cell: (a) => timeCell(a.requested_at), hideSmall: true },
          {
            label: "Time left",
            cell: (a) => h("span", { class: "time-left", "data-testid": "time-left", dataset: { expires: String(toMs(a.expires_at)) } }, timeLeftText((toMs(a.expires_at) || 0) - (Date.now() + skewMs))),
          },
          { label: "Answer", cell: (a) => answerCell(a, data.can_decide, data.decider) },
        ],
        rows,
        {
          caption: "Pending approvals",
          testid: "pending-table",
          empty: "Nothing waits for an answer. A run a policy blocks appears here when its agent uses approval_from_control_plane().",
          rowAttrs: (a) => ({ "data-testid": "approval-row", dataset: { approvalId: a.id } }),
        },
      ),
    );
  }

  function paintHistory(data) {
    replace(
      historyBox,
      table(
        [
          { label: "Requested", cell: (a) => timeCell(a.requested_at) },
          { label: "Status", cell: (a) => statusBadge(a.status) },
          { label: "Agent", cell: agentCell },
          { label: "Run", cell: (a) => (a.run_id ? runLink(a.run_id) : "–"), hideSmall: true },
          { label: "Action", cell: (a) => a.action_type || "–", hideSmall: true },
          { label: "Decided by", cell: (a) => a.decided_by || (a.status === PENDING ? "–" : h("span", { class: "muted" }, "nobody")) },
          { label: "Decided", cell: (a) => (a.decided_at ? timeCell(a.decided_at) : "–"), hideSmall: true },
          { label: "Comment", cell: (a) => a.comment || "–", hideSmall: true },
          { label: "Reason", cell: (a) => a.reason || "–", hideSmall: true },
        ],
        data.approvals || [],
        {
          caption: "Approvals",
          testid: "history-table",
          empty: "No approvals yet.",
          rowAttrs: (a) => ({ "data-testid": "history-row", dataset: { approvalId: a.id } }),
        },
      ),
      pager({ total: data.total || 0, limit: LIMIT, offset, label: "approvals", onGo: (o) => setParams({ ...p, offset: o || "" }) }),
    );
  }

  async function load() {
    const [pending, history] = await Promise.all([
      read("approvals/", { status: PENDING, limit: 500 }),
      read("approvals/", { status: historyStatus, limit: LIMIT, offset }),
    ]);
    if (!ctx.alive()) return;
    const serverNow = toMs(pending.now);
    if (serverNow !== null) skewMs = serverNow - Date.now();
    const key = JSON.stringify([pending.can_decide, (pending.approvals || []).map((a) => a.id)]);
    if (key !== shownPending) {
      shownPending = key;
      paintPending(pending);
    }
    paintHistory(history);
    refreshStatus.textContent = "Updated " + new Date().toLocaleTimeString();
    tick();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!ctx.alive()) return;
      try {
        if (!busy) await load();
      } catch (error) {
        if (!ctx.alive()) return;
        replace(pendingBox, errorBox(error));
        shownPending = "";
        if (error instanceof AuthError) return; // the key went away: reloading the page asks for one
      }
      schedule();
    }, REFRESH_MS);
  }

  replace(
    ctx.main,
    pageHeader("Approvals", h("div", { class: "head-tools" }, refreshStatus)),
    summary,
    message,
    section("Waiting for an answer", pendingBox),
    section("History", h("div", { class: "filters filters-compact" }, filter), historyBox),
  );
  await load();
  ticker = setInterval(tick, 1000);
  schedule();
}
