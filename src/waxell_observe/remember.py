"""Memory one-liners (reference §1.6): ``remember_episodic``, ``remember_semantic`` and ``recall`` act
on the current run (the methods of the same purpose on :class:`~waxell_observe.WaxellContext`) and do
nothing outside one."""

from __future__ import annotations

from typing import Any

from waxell_observe.current import current_context

__all__ = ["remember_episodic", "remember_semantic", "recall"]


def remember_episodic(slot_name: str, data: Any, **kwargs: Any) -> None:
    """Remember ``data`` in the episodic slot ``slot_name`` of the current run's agent; keyword
    arguments ``scope_key``, ``ttl_seconds``, ``max_items``, ``memory_type`` as
    :meth:`WaxellContext.remember_episodic`."""
    context = current_context.get()
    if context is not None:
        context.remember_episodic(slot_name=slot_name, data=data, **kwargs)


def remember_semantic(slot_name: str, content: str, **kwargs: Any) -> None:
    """Remember the fact ``content``; keyword arguments ``scope_key``, ``importance``, ``tags``,
    ``fact_key``, ``source_tool``, ``content_embedding`` as :meth:`WaxellContext.remember_semantic`."""
    context = current_context.get()
    if context is not None:
        context.remember_semantic(slot_name=slot_name, content=content, **kwargs)


def recall(
    query: str = "",
    *,
    tier: str = "episodic",
    store: str = "",
    results_count: int = 0,
    top_score: float | None = None,
    slot_name: str = "",
    results: list[Any] | None = None,
) -> None:
    """Record a memory read on the current run (:meth:`WaxellContext.record_memory_recall`). When
    ``results_count`` is 0 it is the number of ``results`` (0 without results)."""
    context = current_context.get()
    if context is None:
        return
    if results_count == 0 and results:
        results_count = len(results)
    context.record_memory_recall(
        query=query,
        tier=tier,
        store=store,
        results_count=results_count,
        top_score=top_score,
        slot_name=slot_name,
        results=results,
    )
