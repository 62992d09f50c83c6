"""Rendering runs for people: a table of runs and a run as a timeline tree (rich)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from waxell_observe.cli.render_human import add_people_line, human_span_detail
from waxell_observe.cli.render_memory import ACTION_KEYS, add_action_sections, memory_span_detail
from waxell_observe.records import short_id

__all__ = ["runs_table", "run_tree", "timeline"]

_STATUS_STYLE = {
    "success": "green",
    "error": "red",
    "blocked": "magenta",
    "interrupted": "yellow",
    "running": "cyan",
}

_CONVERSATION_COUNTERS = frozenset(
    {
        "user_turns",
        "message_count",
        "assistant_turns",
        "tool_results",
        "tokens_in_context",
        "context_utilization_pct",
        "system_prompt_hash",
        "tools_used",
    }
)
"""The conversation state's counters; its other keys are activity signals, listed one a line."""


def _console() -> Console:
    # Piped output (no terminal) gets a wide page instead of rich's 80 columns.
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _money(value: float | None) -> str:
    return f"${value or 0.0:.6f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.1f}ms"


def _compact(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def runs_table(runs: list[dict[str, Any]]) -> None:
    """Print runs as a table."""
    table = Table(title=f"{len(runs)} run(s)", title_justify="left")
    for header in ("run", "agent", "workflow", "status", "started", "duration", "tokens", "cost"):
        table.add_column(header, no_wrap=True)
    table.add_column("tags", overflow="fold")
    for run in runs:
        status = Text(run["status"], style=_STATUS_STYLE.get(run["status"], ""))
        tags = " ".join(f"{k}={v}" for k, v in (run.get("tags") or {}).items())
        table.add_row(
            short_id(run["run_id"]),
            Text(run["agent_name"]),
            Text(run["workflow_name"]),
            status,
            (run["started_at"] or "")[:19].replace("T", " "),
            _ms(run["duration_ms"]),
            str(run["total_tokens"]),
            _money(run["total_cost"]),
            Text(tags),
        )
    _console().print(table)


def timeline(run: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The run's records in the order they were recorded as ``(kind, started_at, record)``
    (in time order when the records do not carry their place in the run's ordering)."""
    items: list[tuple[str, str, int, dict[str, Any]]] = []
    for call in run.get("llm_calls", []):
        items.append(("llm", call.get("started_at") or "", call.get("position") or 0, call))
    for step in run.get("steps", []):
        items.append(("step", step.get("started_at") or "", step.get("seq") or 0, step))
    for span in run.get("spans", []):
        items.append((span["kind"], span.get("started_at") or "", span.get("position") or 0, span))
    if all(item[2] for item in items):  # recorded by our SDK: one ordering of records
        items.sort(key=lambda item: item[2])
    else:
        items.sort(key=lambda item: (item[1], item[2]))
    return [(kind, at, record) for kind, at, _, record in items]


def _label(kind: str, record: dict[str, Any]) -> Text:
    if kind == "llm":
        return _llm_label(record)
    if kind == "step":
        return _step_label(record)
    return _span_label(kind, record)


def _llm_label(record: dict[str, Any]) -> Text:
    text = Text()
    style = "red" if record.get("status") == "error" else "bold blue"
    text.append("LLM ", style=style)
    text.append(record["model"], style="bold")
    text.append(
        f"  {record['tokens_in']}→{record['tokens_out']} tok  {_money(record['cost'])}  "
        f"{_ms(record.get('duration_ms'))}"
    )
    if record.get("task"):
        text.append(f"  [{record['task']}]", style="dim")
    if record.get("error_message"):
        text.append(f"  {record['error_message']}", style="red")
    return text


def _step_label(record: dict[str, Any]) -> Text:
    text = Text()
    text.append(f"STEP {record['position']} ", style="bold green")
    text.append(record["name"])
    output = record.get("output")
    if isinstance(output, dict) and output.get("_kind") == "delegation":
        return text
    if output is not None:
        text.append(f"  {_compact(record['output'])}", style="dim")
    return text


def _span_label(kind: str, record: dict[str, Any]) -> Text:
    text = Text()
    style = "red" if record.get("status") == "error" else "bold yellow"
    text.append(f"{kind.upper()} ", style=style)
    text.append(record["name"])
    detail = _span_detail(kind, record, record.get("attributes") or {})
    if detail:
        text.append(detail, style="dim")
    if record.get("duration_ms") is not None and kind != "policy":
        text.append(f"  {_ms(record['duration_ms'])}", style="dim")
    return text


def _span_detail(kind: str, record: dict[str, Any], attributes: dict[str, Any]) -> str:
    """What a span of ``kind`` shows after its name (dimmed)."""
    human = human_span_detail(kind, record, attributes)
    if human is not None:
        return human
    if kind == "tool":
        return f"  {_compact(record.get('input'), 60)} → {_compact(record.get('output'), 60)}"
    if kind == "retrieval":
        query = (record.get("input") or {}).get("query", "")
        return f"  {query!r}: {attributes.get('document_count', 0)} document(s)"
    if kind == "decision":
        chosen = (record.get("output") or {}).get("chosen", "")
        confidence = attributes.get("confidence")
        return f"  → {chosen}" + (f" ({confidence})" if confidence is not None else "")
    if kind == "reasoning":
        return f"  {_compact(attributes.get('thought', ''), 80)}"
    if kind == "retry":
        return f"  attempt {attributes.get('attempt')}: {attributes.get('reason', '')}"
    if kind == "policy":
        return f"  {attributes.get('action')} [{attributes.get('phase')}] {attributes.get('reason', '')}"
    if kind == "io":
        content = record.get("input") if record["name"] == "user_message" else record.get("output")
        return f"  {_compact(content or attributes.get('preview', ''), 100)}"
    if kind == "memory":
        return memory_span_detail(record, attributes)
    return ""


def _child_label(child: dict[str, Any]) -> Text:
    text = Text()
    text.append("CHILD RUN ", style="bold cyan")
    text.append(child["agent_name"])
    text.append(f" {child['status']}", style=_STATUS_STYLE.get(child["status"], ""))
    text.append(
        f"  run {short_id(child['run_id'])}  {child['total_tokens']} tok  {_money(child['total_cost'])}  "
        f"{_ms(child.get('duration_ms'))}",
        style="dim",
    )
    return text


def run_tree(run: dict[str, Any], console: Console | None = None) -> None:
    """Print a run (``get_run`` shape) as a tree: header, then its records in time order."""
    console = console or _console()
    title = Text()
    title.append(f"{run['agent_name']}", style="bold")
    title.append(f" / {run['workflow_name']}  ")
    title.append(run["status"], style=_STATUS_STYLE.get(run["status"], ""))
    title.append(f"  run {run['run_id']}", style="dim")
    tree = Tree(title)
    facts = [
        f"duration {_ms(run.get('duration_ms'))}",
        f"tokens {run['tokens_in']} in / {run['tokens_out']} out",
        f"cost {_money(run['total_cost'])}",
        f"{run['llm_call_count']} LLM call(s)",
    ]
    tree.add(Text("  ".join(facts)))
    add_people_line(tree, run)
    for name in ("session_id", "user_id", "user_group", "parent_run_id"):
        if run.get(name):
            tree.add(Text(f"{name}: {run[name]}"))
    if run.get("tags"):
        tree.add(Text("tags: " + ", ".join(f"{k}={v}" for k, v in run["tags"].items())))
    for name in ("inputs", "metadata", "result"):
        if run.get(name):
            tree.add(Text(f"{name}: {_compact(run[name], 200)}"))
    if run.get("error"):
        tree.add(Text(f"error: {run.get('error_type') or 'Error'}: {run['error']}", style="red"))
    records = tree.add(Text("timeline", style="bold"))
    children = {child["run_id"]: child for child in run.get("children", [])}
    for kind, _at, record in timeline(run):
        node = records.add(_label(kind, record))
        output = record.get("output") if kind == "step" else None
        if isinstance(output, dict) and output.get("_kind") == "delegation":
            child = children.pop(str(output.get("child_run_id")), None)
            if child is not None:
                node.add(_child_label(child))
    for child in children.values():
        records.add(_child_label(child))
    if run.get("scores"):
        scores = tree.add(Text("scores", style="bold"))
        for score in run["scores"]:
            comment = f"  ({score['comment']})" if score.get("comment") else ""
            scores.add(Text(f"{score['name']} = {score['value']!r} [{score['data_type']}]{comment}"))
    if run.get("conversation"):
        _conversation(tree, run["conversation"])
    console.print(tree)


def _conversation(tree: Tree, conversation: dict[str, Any]) -> None:
    """The conversation line, with the activity signals (``record_communication``, ...) under it."""
    node = tree.add(
        Text(
            f"conversation: {conversation.get('user_turns', 0)} user turn(s), "
            f"{conversation.get('message_count', 0)} message(s), "
            f"{conversation.get('context_utilization_pct', 0.0)}% of the context window"
        )
    )
    for key, value in conversation.items():
        if key not in _CONVERSATION_COUNTERS and key not in ACTION_KEYS:
            node.add(Text(f"{key}: {_compact(value)}"))
    add_action_sections(node, conversation)
