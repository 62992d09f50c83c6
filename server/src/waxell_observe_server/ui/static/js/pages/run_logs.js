// @ts-check
// The Logs tab of a run: what the application logged while the run was active (OTLP /v1/logs,
// sent by init_tracing()), oldest first, with a severity filter.

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { section, table, timeCell } from "../components.js";

const LEVELS = [
  { label: "All", min: 0 },
  { label: "Info and above", min: 9 },
  { label: "Warnings and above", min: 13 },
  { label: "Errors", min: 17 },
];

function severityChip(record) {
  const n = record.severity_number || 0;
  const tone = n >= 17 ? "error" : n >= 13 ? "warn" : "";
  return h("span", { class: ["chip", tone ? "chip-" + tone : ""] }, record.severity_text || String(n));
}

/** Render the Logs tab of `run` into `panel`. */
export async function logsTab(run, panel, ctx) {
  let min = 0;
  const body = h("div");
  const select = h(
    "select",
    {
      "aria-label": "Lowest severity shown",
      "data-testid": "logs-severity",
      onchange: () => {
        min = Number(select.value);
        load().catch((err) => replace(body, h("p", { class: "notice notice-error" }, String(err.message || err))));
      },
    },
    LEVELS.map((level) => h("option", { value: String(level.min) }, level.label)),
  );

  async function load() {
    const reply = await read("runs/" + encodeURIComponent(run.run_id) + "/logs/", { min_severity: min, limit: 5000 });
    if (!ctx.alive()) return;
    const records = reply.logs || [];
    replace(
      body,
      table(
        [
          { label: "Time", cell: (r) => timeCell(r.time) },
          { label: "Level", cell: severityChip },
          { label: "Logger", cell: (r) => h("code", null, r.logger || "–"), hideSmall: true },
          { label: "Message", cell: (r) => h("span", { class: "log-body" }, r.body) },
        ],
        records,
        {
          caption: "Log records",
          testid: "logs-table",
          empty: "Nothing was logged during this run (log records are sent by init_tracing(); see docs/opentelemetry.md).",
        },
      ),
    );
  }

  replace(panel, section("Logs", h("div", { class: "btn-row" }, select), body));
  await load();
}
