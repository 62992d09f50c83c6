// @ts-check
// Generated from waxell_observe.vocabulary.for_dashboard() by
// `python -m waxell_observe_server.ui_vocabulary`: do not edit.

export const VOCABULARY = {
  "run_statuses": [
    "running",
    "success",
    "error",
    "blocked",
    "interrupted"
  ],
  "span_kinds": [
    "tool",
    "retrieval",
    "decision",
    "reasoning",
    "retry",
    "policy",
    "io",
    "prompt",
    "memory",
    "llm",
    "chain",
    "agent",
    "custom"
  ],
  "policy_actions": [
    "allow",
    "skip",
    "warn",
    "redact",
    "retry",
    "throttle",
    "block"
  ],
  "policy_phases": [
    "pre_execution",
    "mid_execution",
    "post_execution"
  ],
  "policy_categories": [
    {
      "name": "budget",
      "phases": [
        "pre_execution",
        "mid_execution",
        "post_execution"
      ],
      "stateful": true,
      "summary": "token and cost limits per day, per run and per model"
    },
    {
      "name": "rate-limit",
      "phases": [
        "pre_execution"
      ],
      "stateful": true,
      "summary": "runs per minute, hour and day; runs in flight"
    },
    {
      "name": "llm",
      "phases": [
        "llm.before",
        "llm.after",
        "mid_execution"
      ],
      "stateful": false,
      "summary": "allowed and blocked models, tokens per call"
    },
    {
      "name": "content",
      "phases": [
        "pre_execution",
        "llm.before",
        "llm.after",
        "tool.before",
        "tool.after",
        "mid_execution",
        "retrieval.after",
        "memory.write",
        "network.before",
        "post_execution",
        "run.error"
      ],
      "stateful": false,
      "summary": "PII, credentials, prompt injection, patterns and phrases, lengths"
    },
    {
      "name": "safety",
      "phases": [
        "llm.after",
        "tool.before",
        "tool.after",
        "mid_execution",
        "run.error"
      ],
      "stateful": false,
      "summary": "steps, tool calls, blocked tools, retries, output length, content filters"
    },
    {
      "name": "kill-switch",
      "phases": [
        "pre_execution"
      ],
      "stateful": true,
      "summary": "a manual switch, or tripped by the error rate"
    },
    {
      "name": "context-management",
      "phases": [
        "mid_execution"
      ],
      "stateful": false,
      "summary": "conversation turns, context use, session length"
    },
    {
      "name": "scheduling",
      "phases": [
        "pre_execution"
      ],
      "stateful": false,
      "summary": "allowed hours and days, blackout dates, maintenance windows"
    },
    {
      "name": "quality",
      "phases": [
        "llm.after",
        "post_execution"
      ],
      "stateful": false,
      "summary": "checks on the result, with retry feedback"
    },
    {
      "name": "tool-allowlist",
      "phases": [
        "tool.before",
        "mid_execution"
      ],
      "stateful": false,
      "summary": "which tools may be called"
    },
    {
      "name": "network",
      "phases": [
        "network.before"
      ],
      "stateful": false,
      "summary": "which hosts and protocols may be reached"
    },
    {
      "name": "domain-governance",
      "phases": [
        "tool.before",
        "mid_execution",
        "network.before"
      ],
      "stateful": false,
      "summary": "hosts, business domains and their actions"
    },
    {
      "name": "mcp-server-allowlist",
      "phases": [
        "tool.before",
        "mcp.before"
      ],
      "stateful": false,
      "summary": "which MCP servers may be used"
    },
    {
      "name": "prompt-allowlist",
      "phases": [
        "llm.before",
        "mid_execution"
      ],
      "stateful": false,
      "summary": "which managed prompts may be used"
    },
    {
      "name": "scope",
      "phases": [
        "tool.before",
        "mid_execution"
      ],
      "stateful": false,
      "summary": "tools, transaction amounts and records an agent may touch"
    },
    {
      "name": "recursion-bound",
      "phases": [
        "llm.before",
        "tool.before",
        "mid_execution",
        "spawn.before"
      ],
      "stateful": false,
      "summary": "reasoning depth, tool calls, delegation depth"
    },
    {
      "name": "delegation",
      "phases": [
        "spawn.before"
      ],
      "stateful": false,
      "summary": "which sub-agents may be spawned, how many and how deep"
    },
    {
      "name": "output-egress-format",
      "phases": [
        "llm.after",
        "tool.after",
        "mid_execution",
        "post_execution",
        "run.error"
      ],
      "stateful": false,
      "summary": "data URIs, base64 blobs and external links in outputs"
    },
    {
      "name": "input-validation",
      "phases": [
        "pre_execution",
        "llm.before",
        "tool.before"
      ],
      "stateful": false,
      "summary": "size of the input"
    },
    {
      "name": "retrieval",
      "phases": [
        "retrieval.after"
      ],
      "stateful": false,
      "summary": "relevance and number of retrieved chunks"
    },
    {
      "name": "memory",
      "phases": [
        "memory.read",
        "memory.write",
        "memory.delete"
      ],
      "stateful": false,
      "summary": "forbidden memory types, PII in memory, protected deletes"
    },
    {
      "name": "tool-argument-schema",
      "phases": [
        "tool.before"
      ],
      "stateful": false,
      "summary": "tool arguments checked against JSON Schemas"
    },
    {
      "name": "agent-service-account-scope",
      "phases": [
        "pre_execution",
        "tool.before"
      ],
      "stateful": false,
      "summary": "scopes a service account must hold"
    },
    {
      "name": "time-of-day-gating",
      "phases": [
        "pre_execution",
        "llm.before",
        "tool.before"
      ],
      "stateful": false,
      "summary": "weekly time windows in a time zone"
    },
    {
      "name": "chargeback-attribution",
      "phases": [
        "pre_execution"
      ],
      "stateful": false,
      "summary": "billing tags a run must carry"
    },
    {
      "name": "operations",
      "phases": [
        "pre_execution",
        "mid_execution",
        "post_execution"
      ],
      "stateful": false,
      "summary": "run timeouts, maintenance windows"
    },
    {
      "name": "data-residency",
      "phases": [
        "pre_execution",
        "llm.before",
        "tool.before",
        "memory.write",
        "network.before"
      ],
      "stateful": false,
      "summary": "the regions an agent may run in"
    },
    {
      "name": "code-execution",
      "phases": [
        "pre_execution",
        "code.exec"
      ],
      "stateful": false,
      "summary": "languages, commands, paths and packages of executed code"
    },
    {
      "name": "provenance-required",
      "phases": [
        "llm.after",
        "retrieval.after",
        "post_execution"
      ],
      "stateful": false,
      "summary": "sources and citations behind answers"
    },
    {
      "name": "prompt-injection-guard",
      "phases": [
        "pre_execution",
        "llm.before",
        "tool.before",
        "tool.after",
        "mid_execution",
        "retrieval.after"
      ],
      "stateful": false,
      "summary": "jailbreak phrases, hidden payloads, oversized inputs"
    },
    {
      "name": "approval",
      "phases": [
        "pre_execution",
        "tool.before"
      ],
      "stateful": false,
      "summary": "runs and tools a person must approve first (who, how long to wait)"
    }
  ],
  "approval_statuses": [
    "pending",
    "approved",
    "denied",
    "expired",
    "cancelled"
  ]
};
