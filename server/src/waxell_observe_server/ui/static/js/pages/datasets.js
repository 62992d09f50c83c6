// @ts-check
// Datasets: the versioned {input, expected, metadata} items experiments run on.
//
// #/datasets                    every dataset with its latest version
// #/datasets/<name>?v=<version>  one dataset: the items of version v (default: the latest), its
//                               version history and the experiments run on it

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { fmtInt } from "../format.js";
import { cards, href, pageHeader, section, table } from "../components.js";
import { epochTime, experimentHref, metricChips, valueCell } from "./experiments.js";

export function datasetHref(name, params) {
  return href("/datasets/" + encodeURIComponent(name), params);
}

export async function renderDatasets(ctx) {
  const data = await read("datasets/");
  if (!ctx.alive()) return;
  replace(
    ctx.main,
    pageHeader("Datasets", h("a", { class: "btn btn-small", href: href("/experiments") }, "Experiments")),
    h(
      "p",
      { class: "lead" },
      "Versioned items of input, expected output and metadata; every change makes a new version, and each experiment names the version it ran on.",
    ),
    table(
      [
        { label: "Dataset", cell: (d) => h("a", { href: datasetHref(d.name) }, d.name) },
        { label: "Version", cell: (d) => "v" + d.version, class: "num" },
        { label: "Items", cell: (d) => fmtInt(d.item_count), class: "num" },
        { label: "Description", cell: (d) => d.description || h("span", { class: "muted" }, "–") },
        { label: "Updated", cell: (d) => epochTime(d.updated_at), hideSmall: true },
      ],
      data.datasets || [],
      {
        caption: "Datasets",
        testid: "datasets-table",
        empty: "No datasets yet. Create one with waxell_observe.create_dataset() or `waxell-observe datasets create NAME --file items.jsonl`.",
      },
    ),
  );
}

export async function renderDataset(ctx) {
  const name = ctx.args[0];
  const wanted = Number(ctx.params.get("v")) || null;
  const data = await read("datasets/" + encodeURIComponent(name) + "/", { version: wanted });
  if (!ctx.alive()) return;
  ctx.setTitle("Dataset " + name);
  const versions = data.versions || [];
  const experiments = data.experiments || [];
  replace(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/datasets" }, "Datasets"), " / ", h("span", null, name)),
    pageHeader("Dataset " + name, h("a", { class: "btn btn-small", href: href("/experiments", { dataset: name }) }, "Its experiments")),
    data.description ? h("p", { class: "lead" }, data.description) : null,
    cards([
      { label: "Version shown", value: "v" + data.version, sub: "latest is v" + data.latest_version, testid: "dataset-version" },
      { label: "Items", value: fmtInt(data.item_count), sub: "in v" + data.version, testid: "dataset-items" },
      { label: "Versions", value: fmtInt(versions.length) },
      { label: "Experiments", value: fmtInt(experiments.length), testid: "dataset-experiments" },
    ]),
    section(
      "Items of v" + data.version,
      table(
        [
          { label: "Id", cell: (i) => h("code", null, i.id) },
          { label: "Input", cell: (i) => valueCell(i.input) },
          { label: "Expected", cell: (i) => valueCell(i.expected) },
          { label: "Metadata", cell: (i) => valueCell(i.metadata && Object.keys(i.metadata).length ? i.metadata : null), hideSmall: true },
        ],
        data.items || [],
        { caption: "Items of " + name + " version " + data.version, testid: "dataset-items-table", empty: "This version holds no items." },
      ),
    ),
    section(
      "Versions",
      table(
        [
          {
            label: "Version",
            cell: (v) => h("a", { href: datasetHref(name, { v: v.version }), "aria-current": v.version === data.version ? "true" : null }, "v" + v.version),
          },
          { label: "Items", cell: (v) => fmtInt(v.item_count), class: "num" },
          { label: "Change", cell: (v) => v.change },
          { label: "Created", cell: (v) => epochTime(v.created_at), hideSmall: true },
        ],
        versions,
        {
          caption: "Versions of " + name,
          testid: "dataset-versions-table",
          rowAttrs: (v) => ({ class: v.version === data.version ? "row-selected" : null, "data-version": String(v.version) }),
        },
      ),
    ),
    section(
      "Experiments",
      table(
        [
          { label: "Experiment", cell: (e) => h("a", { href: experimentHref(e.experiment_id) }, e.name) },
          { label: "Version", cell: (e) => "v" + e.dataset_version, class: "num" },
          { label: "Runs", cell: (e) => fmtInt((e.summary || {}).runs), class: "num" },
          { label: "Pass rates", cell: (e) => metricChips(e.summary) },
          { label: "Started", cell: (e) => epochTime(e.created_at), hideSmall: true },
        ],
        experiments,
        { caption: "Experiments on " + name, testid: "dataset-experiments-table", empty: "No experiment ran on this dataset yet." },
      ),
    ),
  );
}
