// @ts-check
// Experiments: a task run over a dataset and scored by evaluators, and two of them compared.
//
// #/experiments?dataset=<name>           experiments, newest first; pick two to compare
// #/experiments/<id or name>             one experiment: its aggregates and its rows
// #/experiments/compare?a=<A>&b=<B>&only=flipped
//                                        B against A (the baseline): per-metric deltas, cost, tokens,
//                                        latency and errors, and the items side by side with a diff
//                                        of their outputs and their scores

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { setParams } from "../router.js";
import { fmtCost, fmtDuration, fmtInt, fmtPct, fmtTokens, oneLine, pretty } from "../format.js";
import { cards, href, pageHeader, runLink, section, shortId, statusBadge, table, timeCell } from "../components.js";
import { lineDiff } from "../line_diff.js";

export function experimentHref(ref) {
  return href("/experiments/" + encodeURIComponent(ref));
}

function compareHref(a, b, params) {
  return href("/experiments/compare", { a, b, ...(params || {}) });
}

/** A time the store keeps in epoch seconds. */
export function epochTime(seconds) {
  if (seconds === null || seconds === undefined) return h("span", { class: "muted" }, "–");
  return timeCell(new Date(Number(seconds) * 1000).toISOString());
}

/** A JSON value on one line (title: all of it); "–" for none. */
export function valueCell(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  return h("span", { class: "value-cell", title: pretty(value) }, oneLine(value, 120));
}

/** A pass rate (0..1) as a percentage. */
function rate(value) {
  return value === null || value === undefined ? "–" : fmtPct(Number(value) * 100);
}

function mean(value) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? String(value) : Number(value).toFixed(4).replace(/0+$/, "");
}

function scoreText(value) {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/0+$/, "");
  return String(value);
}

/** The pass rates of an experiment's metrics as chips: "exact_match 95.0%". */
export function metricChips(summary) {
  const metrics = Object.entries((summary && summary.metrics) || {});
  if (!metrics.length) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    { class: "chips" },
    metrics.map(([name, m]) => h("span", { class: "chip", "data-metric": name }, name + " " + rate(m.pass_rate))),
  );
}

/** Whether a stored score passes: its own verdict, else a true bool or a number >= 0.5 (null: a category). */
function passes(score) {
  if (score.passed !== undefined && score.passed !== null) return Boolean(score.passed);
  if (typeof score.value === "boolean") return score.value;
  if (typeof score.value === "number") return score.value >= 0.5;
  return null;
}

/** A row's scores as chips "name: value", failed ones marked. */
function scoreChips(scores) {
  if (!scores || !scores.length) return h("span", { class: "muted" }, "–");
  return h(
    "span",
    { class: "chips" },
    scores.map((s) =>
      h("span", { class: ["chip", passes(s) === false ? "chip-bad" : ""], title: s.comment || null, "data-score": s.name }, s.name + ": " + scoreText(s.value)),
    ),
  );
}

/**
 * A delta with its sign, green when better and red when worse (lower is better for costs).
 * @param {number | null | undefined} value
 * @param {{percent?: boolean, lowerIsBetter?: boolean, format?: ((v: number) => string) | null}} [options]
 */
function delta(value, { percent = false, lowerIsBetter = false, format = null } = {}) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  const size = Math.abs(value);
  const text = format ? format(size) : percent ? fmtPct(size * 100) : mean(size);
  const shown = (value > 0 ? "+" : value < 0 ? "-" : "") + text;
  const better = lowerIsBetter ? value < 0 : value > 0;
  return h("span", { class: value === 0 ? "delta" : ["delta", better ? "delta-better" : "delta-worse"], "data-delta": String(value) }, shown);
}

// -- the list ---------------------------------------------------------------------------------------

export async function renderExperiments(ctx) {
  const dataset = ctx.params.get("dataset") || "";
  const data = await read("experiments/", { dataset });
  if (!ctx.alive()) return;
  const found = data.experiments || [];
  const pick = (name, selected) =>
    h(
      "label",
      { class: "field field-inline" },
      h("span", { class: "field-label" }, name === "a" ? "Baseline (A)" : "Candidate (B)"),
      h(
        "select",
        { name, "data-testid": "compare-" + name },
        found.map((e) => h("option", { value: e.experiment_id, selected: e.experiment_id === selected }, e.name + " · " + shortId(e.experiment_id))),
      ),
    );
  const form =
    found.length > 1
      ? h(
          "form",
          {
            class: "btn-row",
            "data-testid": "compare-form",
            onsubmit: (event) => {
              event.preventDefault();
              const form = /** @type {HTMLFormElement} */ (event.target);
              const a = /** @type {HTMLSelectElement} */ (form.elements.namedItem("a")).value;
              const b = /** @type {HTMLSelectElement} */ (form.elements.namedItem("b")).value;
              location.hash = compareHref(a, b);
            },
          },
          pick("a", found[1].experiment_id),
          pick("b", found[0].experiment_id),
          h("button", { type: "submit", class: "btn" }, "Compare"),
        )
      : null;
  replace(
    ctx.main,
    pageHeader("Experiments", h("a", { class: "btn btn-small", href: href("/datasets") }, "Datasets")),
    h(
      "p",
      { class: "lead" },
      dataset ? ["Experiments on dataset ", h("a", { href: href("/datasets/" + encodeURIComponent(dataset)) }, dataset), " · ", h("a", { href: href("/experiments") }, "all experiments")] : "Runs of a task over a dataset (waxell_observe.evaluate() or the pytest marker), scored by evaluators.",
    ),
    form ? section("Compare two", form) : null,
    table(
      [
        { label: "Experiment", cell: (e) => h("a", { href: experimentHref(e.experiment_id) }, e.name) },
        {
          label: "Dataset",
          cell: (e) => (e.dataset ? h("a", { href: href("/datasets/" + encodeURIComponent(e.dataset), { v: e.dataset_version }) }, e.dataset + " v" + e.dataset_version) : h("span", { class: "muted" }, "inline items")),
        },
        { label: "Status", cell: (e) => statusBadge(e.status) },
        { label: "Runs", cell: (e) => fmtInt(e.result_count), class: "num" },
        { label: "Errors", cell: (e) => fmtInt((e.summary || {}).errors), class: "num" },
        { label: "Pass rates", cell: (e) => metricChips(e.summary) },
        { label: "Cost", cell: (e) => fmtCost((e.summary || {}).cost), class: "num", hideSmall: true },
        { label: "Started", cell: (e) => epochTime(e.created_at), hideSmall: true },
      ],
      found,
      {
        caption: "Experiments",
        testid: "experiments-table",
        empty: "No experiments yet. Run one with waxell_observe.evaluate(task, dataset, evaluators) or a test marked @pytest.mark.waxell.",
        rowAttrs: (e) => ({ "data-experiment": e.experiment_id }),
      },
    ),
  );
}

// -- one experiment ---------------------------------------------------------------------------------

function summaryCards(summary) {
  const s = summary || {};
  return cards([
    { label: "Runs", value: fmtInt(s.runs), sub: fmtInt(s.items) + " items", testid: "experiment-runs" },
    { label: "Errors", value: fmtInt(s.errors), sub: rate(s.error_rate) + " of the runs", tone: s.errors ? "bad" : undefined, testid: "experiment-errors" },
    { label: "Cost", value: fmtCost(s.cost), sub: fmtCost(s.cost_mean) + " a run", testid: "experiment-cost" },
    { label: "Tokens", value: fmtTokens((s.tokens_in || 0) + (s.tokens_out || 0)), sub: fmtInt(s.tokens_in) + " in · " + fmtInt(s.tokens_out) + " out" },
    { label: "Latency p50", value: fmtDuration(s.latency_p50_ms), sub: "p95 " + fmtDuration(s.latency_p95_ms), testid: "experiment-latency" },
  ]);
}

function metricsTable(summary) {
  const metrics = Object.entries((summary && summary.metrics) || {}).map(([name, m]) => ({ name, ...m }));
  return table(
    [
      { label: "Score", cell: (m) => m.name },
      { label: "Mean", cell: (m) => mean(m.mean), class: "num" },
      { label: "Pass rate", cell: (m) => rate(m.pass_rate), class: "num" },
      { label: "Passed", cell: (m) => fmtInt(m.passed) + " / " + fmtInt(summary.runs), class: "num" },
      { label: "Scores", cell: (m) => fmtInt(m.count), class: "num" },
      {
        label: "Categories",
        cell: (m) => (m.values && Object.keys(m.values).length ? Object.entries(m.values).map(([k, n]) => k + " " + n).join(", ") : h("span", { class: "muted" }, "–")),
        hideSmall: true,
      },
    ],
    metrics,
    { caption: "Scores", testid: "experiment-metrics", empty: "No evaluator gave a score.", rowAttrs: (m) => ({ "data-metric": m.name }) },
  );
}

export async function renderExperiment(ctx) {
  const ref = ctx.args[0];
  const data = await read("experiments/" + encodeURIComponent(ref) + "/");
  if (!ctx.alive()) return;
  ctx.setTitle("Experiment " + data.name);
  const others = data.dataset ? ((await read("experiments/", { dataset: data.dataset })).experiments || []).filter((e) => e.experiment_id !== data.experiment_id) : [];
  if (!ctx.alive()) return;
  const summary = data.summary || {};
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", h("span", null, data.name)),
    pageHeader("Experiment " + data.name, statusBadge(data.status)),
    h(
      "p",
      { class: "muted small" },
      data.dataset ? ["On dataset ", h("a", { href: href("/datasets/" + encodeURIComponent(data.dataset), { v: data.dataset_version }) }, data.dataset + " v" + data.dataset_version), " · "] : "On inline items · ",
      "started ",
      epochTime(data.created_at),
      " · id ",
      h("code", null, data.experiment_id),
    ),
    summaryCards(summary),
    others.length
      ? h(
          "p",
          { class: "btn-row", "data-testid": "compare-with" },
          "Compare with: ",
          others.slice(0, 5).map((e) => h("a", { class: "btn btn-small", href: compareHref(e.experiment_id, data.experiment_id) }, e.name)),
        )
      : null,
    section("Scores", metricsTable(summary)),
    section(
      "Rows",
      table(
        [
          { label: "Item", cell: (r) => h("code", null, r.item_id) },
          { label: "Rep", cell: (r) => String(r.repetition), class: "num", hideSmall: true },
          { label: "Status", cell: (r) => statusBadge(r.status) },
          { label: "Input", cell: (r) => valueCell(r.input), hideSmall: true },
          { label: "Expected", cell: (r) => valueCell(r.expected) },
          { label: "Output", cell: (r) => (r.status === "error" ? h("span", { class: "error-text" }, (r.error_type ? r.error_type + ": " : "") + r.error) : valueCell(r.output)) },
          { label: "Scores", cell: (r) => scoreChips(r.scores) },
          { label: "Cost", cell: (r) => fmtCost(r.cost), class: "num", hideSmall: true },
          { label: "Latency", cell: (r) => fmtDuration(r.latency_ms), class: "num", hideSmall: true },
          { label: "Run", cell: (r) => runLink(r.run_id) },
        ],
        data.results || [],
        {
          caption: "Rows of " + data.name,
          testid: "experiment-rows",
          empty: "No rows yet.",
          rowAttrs: (r) => ({ "data-item": r.item_id, "data-status": r.status }),
        },
      ),
    ),
  );
}

// -- the comparison ---------------------------------------------------------------------------------

const MEASURE_FORMAT = {
  cost: fmtCost,
  cost_mean: fmtCost,
  tokens_in: fmtInt,
  tokens_out: fmtInt,
  latency_p50_ms: fmtDuration,
  latency_p95_ms: fmtDuration,
  errors: fmtInt,
};

function outputText(side) {
  if (!side) return "";
  if (side.status === "error") return "error: " + side.error;
  return typeof side.output === "string" ? side.output : JSON.stringify(side.output, null, 2) ?? "";
}

function changeOf(item) {
  const worse = item.flips.some((f) => f.a && !f.b);
  const better = item.flips.some((f) => f.b && !f.a);
  if (worse && better) return "mixed";
  if (worse) return "regressed";
  return better ? "improved" : "";
}

function sideBlock(label, side, flips) {
  if (!side) return h("div", { class: "compare-side" }, h("h4", null, label), h("p", { class: "muted" }, "not run"));
  const names = Object.keys(side.scores);
  return h(
    "div",
    { class: "compare-side", "data-side": label },
    h("h4", null, label, " ", statusBadge(side.status)),
    h("pre", { class: "compare-output", "data-testid": "output-" + label, tabindex: "0" }, outputText(side)),
    h(
      "p",
      { class: "chips" },
      names.length
        ? names.map((name) => {
            const flipped = flips.some((f) => f.metric === name);
            const passes = side.passes[name];
            return h(
              "span",
              { class: ["chip", passes === false ? "chip-bad" : "", flipped ? "chip-flipped" : ""], "data-score": name },
              name + ": " + scoreText(side.scores[name]),
            );
          })
        : h("span", { class: "muted" }, "no scores"),
    ),
    h(
      "p",
      { class: "muted small" },
      fmtCost(side.cost),
      " · ",
      fmtInt(side.tokens_in + side.tokens_out),
      " tokens · ",
      fmtDuration(side.latency_ms),
      " · run ",
      side.run_id ? runLink(side.run_id) : "–",
    ),
  );
}

function itemBlock(item) {
  const change = changeOf(item);
  const marks = { same: "  ", del: "- ", add: "+ " };
  const diff = item.a && item.b ? lineDiff(outputText(item.a), outputText(item.b)) : [];
  const same = diff.every((line) => line.op === "same");
  return h(
    "article",
    { class: ["compare-item", change ? "compare-" + change : ""], "data-item": item.item_id, "data-repetition": String(item.repetition), "data-change": change || "same" },
    h(
      "header",
      { class: "compare-item-head" },
      h("code", null, item.item_id),
      item.repetition ? h("span", { class: "muted" }, " repetition " + item.repetition) : null,
      change ? h("span", { class: ["badge", change === "improved" ? "badge-ok" : change === "regressed" ? "badge-bad" : "badge-warn"] }, change) : null,
      item.flips.length
        ? h("span", { class: "muted small" }, " ", item.flips.map((f) => f.metric + " " + (f.a ? "pass" : "fail") + "→" + (f.b ? "pass" : "fail")).join(", "))
        : null,
    ),
    h("p", { class: "small" }, h("span", { class: "muted" }, "Input "), valueCell(item.input), h("span", { class: "muted" }, " · expected "), valueCell(item.expected)),
    h("div", { class: "two-col compare-sides" }, sideBlock("A", item.a, item.flips), sideBlock("B", item.b, item.flips)),
    item.a && item.b
      ? same
        ? h("p", { class: "muted small", "data-testid": "same-output" }, "Same output.")
        : h(
            "pre",
            { class: "prompt-diff", "data-testid": "output-diff", tabindex: "0", "aria-label": "Output changes from A to B for item " + item.item_id },
            diff.map((line) => h("span", { class: "diff-line diff-" + line.op, "data-op": line.op }, marks[line.op] + line.text + "\n")),
          )
      : null,
  );
}

export async function renderComparison(ctx) {
  const a = ctx.params.get("a") || "";
  const b = ctx.params.get("b") || "";
  const only = ctx.params.get("only") || "";
  if (!a || !b) {
    replace(ctx.main, pageHeader("Compare experiments"), h("p", null, "Choose two experiments on the ", h("a", { href: "#/experiments" }, "Experiments"), " page."));
    return;
  }
  const data = await read("experiments/compare/", { a, b });
  if (!ctx.alive()) return;
  ctx.setTitle("Compare " + data.a.name + " and " + data.b.name);
  const items = data.items || [];
  const flipped = items.filter((item) => item.flips.length);
  const shown = only === "flipped" ? flipped : items;
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", h("span", null, "Compare")),
    pageHeader("Compare experiments", h("a", { class: "btn btn-small", href: compareHref(b, a, only ? { only } : undefined), "data-testid": "swap" }, "Swap A and B")),
    h(
      "p",
      { class: "lead", "data-testid": "compare-heads" },
      "A (baseline): ",
      h("a", { href: experimentHref(data.a.experiment_id) }, data.a.name),
      " · B: ",
      h("a", { href: experimentHref(data.b.experiment_id) }, data.b.name),
      data.a.dataset || data.b.dataset ? " · on " + [data.a, data.b].map((e) => (e.dataset ? e.dataset + " v" + e.dataset_version : "inline items")).join(" and ") : null,
      ". Deltas are B − A.",
    ),
    cards([
      { label: "Items regressed", value: fmtInt(data.regressed.length), tone: data.regressed.length ? "bad" : undefined, testid: "compare-regressed" },
      { label: "Items improved", value: fmtInt(data.improved.length), testid: "compare-improved" },
      { label: "Items", value: fmtInt(items.length), sub: fmtInt(flipped.length) + " flipped" },
    ]),
    section(
      "Scores",
      table(
        [
          { label: "Score", cell: (m) => m.name },
          { label: "A mean", cell: (m) => mean(m.a_mean), class: "num" },
          { label: "B mean", cell: (m) => mean(m.b_mean), class: "num" },
          { label: "Δ mean", cell: (m) => delta(m.mean_delta), class: "num" },
          { label: "A pass", cell: (m) => rate(m.a_pass_rate), class: "num" },
          { label: "B pass", cell: (m) => rate(m.b_pass_rate), class: "num" },
          { label: "Δ pass", cell: (m) => delta(m.pass_rate_delta, { percent: true }), class: "num" },
        ],
        data.metrics || [],
        { caption: "Scores of A and B", testid: "compare-metrics", empty: "Neither experiment has scores.", rowAttrs: (m) => ({ "data-metric": m.name }) },
      ),
    ),
    section(
      "Cost, tokens, latency and errors",
      table(
        [
          { label: "Measure", cell: (m) => m.label },
          { label: "A", cell: (m) => (MEASURE_FORMAT[m.name] || mean)(m.a), class: "num" },
          { label: "B", cell: (m) => (MEASURE_FORMAT[m.name] || mean)(m.b), class: "num" },
          { label: "Δ", cell: (m) => delta(m.delta, { lowerIsBetter: true, format: MEASURE_FORMAT[m.name] || mean }), class: "num" },
        ],
        data.measures || [],
        { caption: "Measures of A and B", testid: "compare-measures", rowAttrs: (m) => ({ "data-measure": m.name }) },
      ),
    ),
    section(
      "Items",
      h(
        "p",
        { class: "btn-row" },
        h(
          "label",
          { class: "field field-check" },
          h("input", {
            type: "checkbox",
            "data-testid": "only-flipped",
            checked: only === "flipped",
            onchange: (event) => setParams({ a, b, only: /** @type {HTMLInputElement} */ (event.target).checked ? "flipped" : "" }),
          }),
          h("span", null, "Only items that flipped (" + flipped.length + ")"),
        ),
      ),
      shown.length
        ? h("div", { class: "compare-items", "data-testid": "compare-items" }, shown.map(itemBlock))
        : h("p", { class: "empty", "data-testid": "compare-items-empty" }, only === "flipped" ? "No item flipped between A and B." : "No items."),
    ),
  );
}
