// @ts-check
// Small building blocks shared by the pages.

import { h } from "./dom.js";
import { withQuery } from "./api.js";
import { fmtAgo, fmtTime, pretty } from "./format.js";

/** A hash link target: href("/runs", {status: "error"}) -> "#/runs?status=error". */
export function href(path, params) {
  return "#" + withQuery(path, params);
}

export function runHref(runId) {
  return href("/runs/" + encodeURIComponent(runId));
}

export function runLink(runId, label) {
  return h("a", { href: runHref(runId), class: "mono" }, label || shortId(runId));
}

export function sessionLink(sessionId) {
  if (!sessionId) return h("span", { class: "muted" }, "–");
  return h("a", { href: href("/sessions/" + encodeURIComponent(sessionId)) }, sessionId);
}

export function userLink(userId) {
  if (!userId) return h("span", { class: "muted" }, "–");
  return h("a", { href: href("/users/" + encodeURIComponent(userId)) }, userId);
}

// The last 8 characters: ids begin with the time they were made (shared by ids of the same moment)
// and end with random ones (see waxell_observe.records.short_id).
export function shortId(id) {
  return id ? String(id).slice(-8) : "–";
}

const STATUS_CLASS = {
  success: "ok",
  ok: "ok",
  allow: "ok",
  error: "bad",
  blocked: "bad",
  block: "bad",
  throttle: "bad",
  running: "info",
  interrupted: "warn",
  warn: "warn",
  redact: "warn",
  retry: "warn",
  skip: "neutral",
  pending: "info",
  approved: "ok",
  denied: "bad",
  expired: "warn",
  cancelled: "neutral",
};

export function statusBadge(status) {
  const value = status || "unknown";
  return h("span", { class: ["badge", "badge-" + (STATUS_CLASS[value] || "neutral")] }, value);
}

export function tagChips(tags, linkable = true) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    { class: "chips" },
    entries.map(([k, v]) => {
      const label = v === "" ? k : k + ": " + v;
      return linkable
        ? h("a", { class: "chip", href: href("/runs", { tag: v === "" ? k : k + ":" + v }), title: "Runs tagged " + label }, label)
        : h("span", { class: "chip" }, label);
    }),
  );
}

/** A time; phones see the short form "MM-DD HH:MM". */
export function timeCell(iso) {
  const full = fmtTime(iso);
  return h(
    "time",
    { datetime: iso || "", title: iso ? fmtAgo(iso) : "" },
    h("span", { class: "t-long" }, full),
    h("span", { class: "t-short", "aria-hidden": "true" }, iso ? full.slice(5, 16) : full),
  );
}

/** Metric cards: [{label, value, sub, testid}]. */
export function cards(items) {
  return h(
    "div",
    { class: "cards" },
    items.map((it) =>
      h(
        "div",
        { class: ["card", it.tone ? "card-" + it.tone : ""], "data-testid": it.testid || null },
        h("div", { class: "card-label" }, it.label),
        h("div", { class: "card-value" }, it.value),
        it.sub ? h("div", { class: "card-sub" }, it.sub) : null,
      ),
    ),
  );
}

/** A key/value list. */
export function kvList(pairs) {
  return h(
    "dl",
    { class: "kv" },
    pairs
      .filter((p) => p)
      .map(([k, v]) => [h("dt", null, k), h("dd", null, v === "" || v === null || v === undefined ? h("span", { class: "muted" }, "–") : v)]),
  );
}

/** A JSON (or text) block. */
export function jsonBlock(value, label) {
  return h("pre", { class: "json", "aria-label": label || null, tabindex: "0" }, pretty(value));
}

/**
 * A data table: columns = [{label, cell: row => node|string, class, hideSmall}].
 * @param {any[]} columns
 * @param {any[]} rows
 * @param {{caption?: string, empty?: string, testid?: string, rowAttrs?: (row: any) => object}} [options]
 */
export function table(columns, rows, { caption, empty = "Nothing here yet.", testid, rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "empty", "data-testid": testid ? testid + "-empty" : null }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "data", "data-testid": testid || null },
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: [c.class, c.hideSmall ? "hide-sm" : ""] }, c.label)))),
      h(
        "tbody",
        null,
        rows.map((row) =>
          h(
            "tr",
            rowAttrs ? rowAttrs(row) : null,
            columns.map((c) => h("td", { class: [c.class, c.hideSmall ? "hide-sm" : ""] }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
}

/** Previous / next pagination. onGo(newOffset). */
export function pager({ total, limit, offset, onGo, label = "items" }) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(offset + limit, total);
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return h(
    "nav",
    { class: "pager", "aria-label": "Pagination" },
    h("button", { type: "button", class: "btn", disabled: offset <= 0, onclick: () => onGo(0), "aria-label": "First page" }, "«"),
    h("button", { type: "button", class: "btn", disabled: offset <= 0, onclick: () => onGo(Math.max(0, offset - limit)) }, "‹ Previous"),
    h("span", { class: "pager-info", "data-testid": "pager-info", "aria-live": "polite" },
      from + "–" + to + " of " + total.toLocaleString("en-US") + " " + label + " · page " + page + " of " + pages),
    h("button", { type: "button", class: "btn", disabled: offset + limit >= total, onclick: () => onGo(offset + limit) }, "Next ›"),
    h("button", { type: "button", class: "btn", disabled: offset + limit >= total, onclick: () => onGo((pages - 1) * limit), "aria-label": "Last page" }, "»"),
  );
}

/**
 * Accessible tabs: role=tablist with roving tabindex; Left/Right/Home/End move between tabs.
 * tabs = [{id, label}], onSelect(id). Returns the tablist element.
 */
export function tabList(tabs, selected, onSelect, label) {
  const buttons = tabs.map((t) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: "tab-" + t.id,
        "aria-selected": t.id === selected ? "true" : "false",
        "aria-controls": "tabpanel",
        tabindex: t.id === selected ? "0" : "-1",
        class: "tab",
        "data-tab": t.id,
        onclick: () => onSelect(t.id),
      },
      t.label,
      t.count !== undefined && t.count !== null ? h("span", { class: "tab-count" }, String(t.count)) : null,
    ),
  );
  const list = h("div", { role: "tablist", class: "tabs", "aria-label": label || "Sections" }, buttons);
  list.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowRight") next = (index + 1) % buttons.length;
    else if (event.key === "ArrowLeft") next = (index - 1 + buttons.length) % buttons.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = buttons.length - 1;
    if (next === null) return;
    event.preventDefault();
    onSelect(tabs[next].id, { focus: true });
  });
  return list;
}

export function errorBox(error) {
  const status = error && error.status ? " (HTTP " + error.status + ")" : "";
  return h("div", { class: "notice notice-error", role: "alert" }, h("strong", null, "Could not load this page" + status + ": "), error && error.message ? error.message : String(error));
}

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1", class: "page-title" }, title), extra);
}

export function section(title, ...children) {
  return h("section", { class: "section" }, title ? h("h2", null, title) : null, children);
}

export function spinner(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}
