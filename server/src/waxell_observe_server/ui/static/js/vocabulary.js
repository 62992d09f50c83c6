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
        "mid_execution"
      ],
      "stateful": false,
      "summary": "allowed and blocked models, tokens per call"
    },
    {
      "name": "content",
      "phases": [
        "pre_execution",
        "mid_execution",
        "post_execution"
      ],
      "stateful": false,
      "summary": "PII, credentials, prompt injection, patterns and phrases, lengths"
    },
    {
      "name": "safety",
      "phases": [
        "mid_execution"
      ],
      "stateful": false,
      "summary": "steps, tool calls, blocked tools, retries"
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
      "summary": "allowed hours and days, blackout dates"
    },
    {
      "name": "quality",
      "phases": [
        "post_execution"
      ],
      "stateful": false,
      "summary": "checks on the result, with retry feedback"
    }
  ]
};
