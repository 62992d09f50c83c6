"""``show``'s sections for what a run remembered and did outside itself: memory (state, summary,
each write and recall), code executions, network requests, pending actions and delegations — the
conversation-state keys of ``record_memory_*`` / ``record_code_execution`` / ... (issue 12)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.text import Text
from rich.tree import Tree

__all__ = ["ACTION_KEYS", "add_action_sections", "memory_span_detail"]

_LIMIT = 100


def _compact(value: Any, limit: int = _LIMIT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def memory_span_detail(record: dict[str, Any], attributes: dict[str, Any]) -> str:
    """What a ``memory`` span shows after its name: a read's outcome, a write's tier and scope."""
    if attributes.get("operation") == "read":
        if not attributes.get("hit"):
            return f"  {attributes.get('tier', '')}: miss"
        top = attributes.get("recall_top_score")
        found = f"  {attributes.get('tier', '')}: hit, {attributes.get('recall_results_count', 0)} result(s)"
        return found + (f", top {top}" if top is not None else "")
    scope = attributes.get("scope_key")
    return f"  {attributes.get('tier', '')}" + (f" @ {scope}" if scope else "")


def _memory(tree: Tree, memory: dict[str, Any]) -> None:
    summary = (memory.get("snapshot") or {}).get("summary") or {}
    facts = []
    if "memory_item_count" in memory:
        loaded = " (loaded from an earlier session)" if memory.get("cross_session_loaded") else ""
        facts.append(f"{memory['memory_item_count']} item(s) at start{loaded}")
    writes, reads = memory.get("memory_writes") or [], memory.get("memory_recalls") or []
    facts.append(f"{len(writes)} write(s), {len(reads)} read(s)")
    if reads:
        hits = summary.get("hit_count", sum(1 for r in reads if r.get("hit")))
        facts.append(f"{hits} hit(s) (hit rate {summary.get('hit_rate')})")
    for key in ("stores", "tiers"):
        if summary.get(key):
            facts.append(f"{key}: {', '.join(summary[key])}")
    node = tree.add(Text("memory: " + "; ".join(facts), style="bold"))
    for write in writes:
        where = " ".join(str(write[k]) for k in ("slot_name", "scope_key") if write.get(k))
        line = Text("WRITE ", style="magenta")
        line.append(f"{write.get('memory_type', '')} {where}".rstrip())
        line.append(f"  {_compact(write.get('content', ''))}", style="dim")
        node.add(line)
    for read in reads:
        line = Text("READ ", style="magenta")
        store = f" {read['store']}" if read.get("store") else ""
        line.append(f"{read.get('tier', '')}{store} {read.get('query', '')!r}")
        if read.get("hit"):
            top = read.get("top_score")
            line.append(
                f"  hit, {read.get('results_count', 0)} result(s)"
                + (f", top {top}" if top is not None else "")
            )
        else:
            line.append("  miss", style="yellow")
        node.add(line)


def _code_executions(tree: Tree, executions: list[dict[str, Any]]) -> None:
    node = tree.add(Text(f"code executions: {len(executions)}", style="bold"))
    for execution in executions:
        line = Text(f"{execution.get('language', '')} ", style="bold")
        line.append(f"{execution.get('execution_time', 0.0):.2f}s  ")
        line.append(_compact(execution.get("code", ""), 80), style="dim")
        if execution.get("packages"):
            line.append(f"  packages: {', '.join(execution['packages'])}", style="dim")
        node.add(line)


def _network_requests(tree: Tree, urls: list[str]) -> None:
    node = tree.add(Text(f"network requests: {len(urls)}", style="bold"))
    for url in urls:
        node.add(Text(str(url)))


def _pending_actions(tree: Tree, actions: list[dict[str, Any]]) -> None:
    node = tree.add(Text(f"pending actions: {len(actions)}", style="bold"))
    for action in actions:
        line = Text(f"{action.get('kind', '')} {action.get('tool', '')}".rstrip())
        if action.get("args"):
            line.append(f"  {_compact(action['args'])}", style="dim")
        node.add(line)


def _delegations(tree: Tree, data: dict[str, Any]) -> None:
    delegations = data.get("delegations") or []
    facts = [f"{len(delegations)} delegation(s)", f"depth {data.get('delegation_depth', 0)}"]
    facts.append(f"{data.get('concurrent_delegates', 0)} in flight at the end")
    if data.get("is_delegate"):
        facts.append(f"this run is a delegate of {data.get('parent_agent') or 'another agent'}")
    node = tree.add(Text("delegations: " + ", ".join(facts), style="bold"))
    for delegation in delegations:
        notes = [f"depth {delegation.get('depth')}"]
        if not delegation.get("approved", True):
            notes.append("not approved")
        if not delegation.get("policies_inherited", True):
            notes.append("policies not inherited")
        node.add(Text(f"{delegation.get('delegate', '')} ({', '.join(notes)})"))


_SECTIONS: dict[str, Callable[[Tree, Any], None]] = {
    "memory_state": _memory,
    "code_executions": _code_executions,
    "network_requests": _network_requests,
    "pending_actions": _pending_actions,
    "delegation_data": _delegations,
}
ACTION_KEYS = frozenset(_SECTIONS)
"""The conversation-state keys shown in their own sections (not as one compact line)."""


def add_action_sections(tree: Tree, conversation: dict[str, Any]) -> None:
    """Add a section to ``tree`` for each of :data:`ACTION_KEYS` the conversation holds."""
    for key, section in _SECTIONS.items():
        value = conversation.get(key)
        if value:
            section(tree, value)
