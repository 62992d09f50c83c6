// @ts-check
// LLM configuration: the tenant's provider instances, its models on them, model groups (fallback chains)
// and capability overrides, as GET /api/v1/read/llm-config/ returns them (what waxell_observe.llm reads).

import { h, replace } from "../dom.js";
import { read } from "../api.js";
import { fmtInt } from "../format.js";
import { cards, kvList, pageHeader, section, table, timeCell } from "../components.js";

const MUTED = () => h("span", { class: "muted" }, "–");

function yes(value) {
  return value ? h("span", { class: "badge badge-ok" }, "yes") : MUTED();
}

function code(text) {
  return text ? h("code", null, text) : MUTED();
}

function modelRef(instanceId, modelId) {
  return h("span", { class: "chip", title: "model " + modelId + " on instance " + instanceId }, modelId + " @ " + instanceId);
}

function overrideText(o) {
  return Object.entries(o)
    .filter(([k]) => k !== "model_id" && k !== "instance_id")
    .map(([k, v]) => k + " = " + String(v))
    .join(", ");
}

export async function renderLlmConfig(ctx) {
  const config = await read("llm-config/");
  if (!ctx.alive()) return;
  if (!config.configured) {
    replace(
      ctx.main,
      pageHeader("LLM configuration"),
      h(
        "p",
        { class: "empty", "data-testid": "llm-config-empty" },
        "No LLM configuration is stored. Add one with ",
        h("code", null, "waxell-observe llm-config set FILE.yaml"),
        " (or PUT /api/v1/admin/llm-config/).",
      ),
    );
    return;
  }
  const counts = config.counts || {};
  const updated = new Date(Number(config.updated_at) * 1000).toISOString();
  replace(
    ctx.main,
    pageHeader("LLM configuration"),
    cards([
      { label: "Instances", value: fmtInt(counts.instances || 0), testid: "llm-count-instances" },
      { label: "Models", value: fmtInt(counts.tenant_models || 0), testid: "llm-count-models" },
      { label: "Model groups", value: fmtInt(counts.model_groups || 0), testid: "llm-count-groups" },
      { label: "Overrides", value: fmtInt(counts.capability_overrides || 0), testid: "llm-count-overrides" },
    ]),
    kvList([
      ["Updated", timeCell(updated)],
      ["Updated by", config.updated_by || ""],
      ["Manifest ETag", h("code", { "data-testid": "llm-etag" }, config.etag || "")],
    ]),
    section(
      "Instances",
      table(
        [
          { label: "Instance", cell: (i) => h("strong", null, i.instance_id) },
          { label: "Kind", cell: (i) => i.kind },
          { label: "Base URL", cell: (i) => (i.base_url ? code(i.base_url) : h("span", { class: "muted" }, "provider's own")) },
          { label: "Secret", cell: (i) => code(i.secret_ref), hideSmall: true },
          { label: "Default for kind", cell: (i) => yes(i.is_default_for_kind) },
          { label: "Capabilities", cell: (i) => ((i.capabilities || []).length ? i.capabilities.join(", ") : MUTED()), hideSmall: true },
          { label: "Catalog", cell: (i) => (i.catalog_id ? i.catalog_id + (i.catalog_version ? " @ " + i.catalog_version : "") : MUTED()), hideSmall: true },
        ],
        config.instances || [],
        { caption: "Provider instances", testid: "llm-instances", empty: "No instances." },
      ),
    ),
    section(
      "Models",
      table(
        [
          { label: "Model", cell: (m) => h("strong", null, m.model_id) },
          { label: "Instance", cell: (m) => m.instance_id },
          { label: "Provider model", cell: (m) => code(m.provider_model_id) },
          { label: "Tools", cell: (m) => yes(m.supports_tools) },
          { label: "JSON", cell: (m) => yes(m.supports_json) },
          { label: "Streaming", cell: (m) => yes(m.supports_streaming) },
          { label: "Context window", cell: (m) => (m.context_window ? fmtInt(m.context_window) : MUTED()), class: "num" },
        ],
        config.tenant_models || [],
        { caption: "Tenant models", testid: "llm-models", empty: "No models." },
      ),
    ),
    section(
      "Model groups",
      table(
        [
          { label: "Group", cell: (g) => h("strong", null, g.group_id) },
          { label: "Name", cell: (g) => g.display_name || MUTED() },
          {
            label: "Chain (tried in order)",
            cell: (g) => h("ol", { class: "llm-chain" }, (g.entries || []).map((e) => h("li", null, modelRef(e.instance_id, e.model_id)))),
          },
        ],
        config.model_groups || [],
        { caption: "Model groups", testid: "llm-groups", empty: "No model groups." },
      ),
    ),
    section(
      "Capability overrides",
      table(
        [
          { label: "Model", cell: (o) => o.model_id },
          { label: "Instance", cell: (o) => o.instance_id || h("span", { class: "muted" }, "every instance") },
          { label: "Sets", cell: (o) => code(overrideText(o)) },
        ],
        config.capability_overrides || [],
        { caption: "Capability overrides", testid: "llm-overrides", empty: "No capability overrides." },
      ),
    ),
  );
}
