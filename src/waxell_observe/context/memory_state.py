"""The ``memory_state`` key of a run's conversation state, kept up to date as memory is written and
recalled (reference spec §2.6):

``{memory_items? , cross_session_loaded?, memory_item_count?`` (from ``set_memory_state``),
``memory_writes``, ``memory_recalls`` (every write and recall, in order), ``snapshot: {reads,
writes`` (the latest :data:`SNAPSHOT_ITEMS` of each, in a compact shape), ``summary: {read_count,
write_count, hit_count, hit_rate, stores, tiers}}}``.

Each function changes the state in place (under the conversation's lock, through
:meth:`~waxell_observe.conversation.ConversationState.update_signal`) in constant time, so a run
that writes memory ten thousand times does not copy its whole history on each write.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SNAPSHOT_ITEMS", "new_memory_state", "add_write", "add_recall", "set_state"]

SNAPSHOT_ITEMS = 200
"""How many reads and writes the snapshot keeps (the latest ones)."""
_SNAPSHOT_CONTENT = 500
_QUERY_CHARS = 200


def new_memory_state() -> dict[str, Any]:
    return {
        "memory_writes": [],
        "memory_recalls": [],
        "snapshot": {
            "reads": [],
            "writes": [],
            "summary": {
                "read_count": 0,
                "write_count": 0,
                "hit_count": 0,
                "hit_rate": None,
                "stores": [],
                "tiers": [],
            },
        },
    }


def _insert_sorted(values: list[str], value: str) -> None:
    if value and value not in values:
        values.append(value)
        values.sort()


def _keep_latest(items: list[dict[str, Any]], item: dict[str, Any]) -> None:
    items.append(item)
    if len(items) > SNAPSHOT_ITEMS:
        del items[0]


def set_state(
    state: dict[str, Any] | None,
    memory_items: list[Any] | None,
    cross_session_loaded: bool,
    memory_item_count: int,
) -> dict[str, Any]:
    """``set_memory_state``: the items (only when given), the cross-session flag and the count."""
    state = state if state is not None else new_memory_state()
    if memory_items is not None:
        state["memory_items"] = memory_items
    state["cross_session_loaded"] = cross_session_loaded
    state["memory_item_count"] = memory_item_count
    return state


def add_write(state: dict[str, Any] | None, write: dict[str, Any]) -> dict[str, Any]:
    """One ``record_memory_write`` entry (``memory_type``, ``content``, optional ``slot_name``,
    ``scope_key``, ``data``)."""
    state = state if state is not None else new_memory_state()
    state["memory_writes"].append(write)
    snapshot = state["snapshot"]
    compact: dict[str, Any] = {"tier": write["memory_type"], "content": write["content"][:_SNAPSHOT_CONTENT]}
    for key in ("slot_name", "scope_key", "data"):
        if key in write:
            compact[key] = write[key]
    _keep_latest(snapshot["writes"], compact)
    summary = snapshot["summary"]
    summary["write_count"] += 1
    _insert_sorted(summary["tiers"], write["memory_type"])
    return state


def add_recall(state: dict[str, Any] | None, recall: dict[str, Any]) -> dict[str, Any]:
    """One ``record_memory_recall`` entry (``tier``, ``store``, ``query``, ``hit``,
    ``results_count``, ``top_score``, optional ``results``)."""
    state = state if state is not None else new_memory_state()
    state["memory_recalls"].append(recall)
    snapshot = state["snapshot"]
    compact: dict[str, Any] = {
        "query": recall["query"][:_QUERY_CHARS],
        "tier": recall["tier"],
        "store": recall["store"],
        "hit": recall["hit"],
        "top_score": recall["top_score"],
    }
    if "results" in recall:
        compact["results"] = recall["results"]
    _keep_latest(snapshot["reads"], compact)
    summary = snapshot["summary"]
    summary["read_count"] += 1
    if recall["hit"]:
        summary["hit_count"] += 1
    summary["hit_rate"] = round(summary["hit_count"] / summary["read_count"], 3)
    _insert_sorted(summary["stores"], recall["store"])
    _insert_sorted(summary["tiers"], recall["tier"])
    return state
