"""Agent memory on a run: what the agent remembered and recalled (reference spec §2.5).

* ``set_memory_state`` — what the agent's memory held when the run started (items, count, whether
  it was loaded from an earlier session);
* ``record_memory_write`` — one write, into ``memory_state.memory_writes``;
* ``record_memory_recall`` — one read: a zero-length ``memory`` span and
  ``memory_state.memory_recalls``;
* ``remember_episodic`` / ``remember_semantic`` — write and keep: a ``memory`` span around the
  write, the ``record_memory_write`` entry, and the memory stored (control plane or embedded store,
  see :mod:`.memory_store`).

The run's ``conversation_state["memory_state"]`` is kept by :mod:`.memory_state` (with its
snapshot and summary). Text and payloads are scrubbed (:mod:`.scrub`) before they are kept.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from waxell_observe.context.checks import check_count, check_name
from waxell_observe.context.containers import SpanContainerMethods
from waxell_observe.context.memory_state import add_recall, add_write, set_state
from waxell_observe.context.memory_store import keep_episodic, keep_semantic
from waxell_observe.context.scrub import scrub
from waxell_observe.gating import recorders as _gates
from waxell_observe.records import SpanRecord
from waxell_observe.run import Run
from waxell_observe.serialize import to_jsonable
from waxell_observe.vocabulary import attributes as names

__all__ = ["MemoryMethods", "MEMORY_SPAN_KIND", "memory_span_attribute"]

logger = logging.getLogger("waxell_observe")

MEMORY_SPAN_KIND = "memory"
_PREFIX = names.span_attribute_prefix(MEMORY_SPAN_KIND)


def memory_span_attribute(name: str) -> str:
    """The key under which a ``memory`` span records the attribute ``name`` (``waxell.memory.tier``
    -> ``tier``): the exporter puts the ``waxell.memory.`` prefix back."""
    return name.removeprefix(_PREFIX)


_OPERATION = memory_span_attribute(names.MEMORY_OPERATION)
_TIER = memory_span_attribute(names.MEMORY_TIER)
_STORE = memory_span_attribute(names.MEMORY_STORE)
_HIT = memory_span_attribute(names.MEMORY_HIT)
_RESULTS_COUNT = memory_span_attribute(names.MEMORY_RECALL_RESULTS_COUNT)
_TOP_SCORE = memory_span_attribute(names.MEMORY_RECALL_TOP_SCORE)
_SLOT = memory_span_attribute(names.MEMORY_SLOT_NAME)
_SCOPE = memory_span_attribute(names.MEMORY_SCOPE_KEY)

_CONTENT_CHARS = 2000
_SEMANTIC_CHARS = 8000
_SUMMARY_CHARS = 200
_RECALL_RESULTS = 20
_RESULT_CHARS = 1000
_NAME_QUERY_CHARS = 40
_EMBEDDING_MODEL = "text-embedding-3-small"


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _score(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number or None, got {value!r}")
    return float(value)


def _optional_positive(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer or None, got {value!r}")
    return value


def _recall_results(results: list[Any]) -> list[Any]:
    """At most 20 results: dicts and lists JSON-safe (scrubbed), anything else as text (1000 chars)."""
    kept: list[Any] = []
    for item in results[:_RECALL_RESULTS]:
        if isinstance(item, (dict, list)):
            kept.append(scrub(to_jsonable(item, where="memory recall result")))
        else:
            kept.append(scrub(str(item)[:_RESULT_CHARS]))
    return kept


def _openai_embedding(content: str) -> list[float] | None:
    """An OpenAI ``text-embedding-3-small`` embedding of ``content`` when ``OPENAI_API_KEY`` is set
    and the ``openai`` package is installed; ``None`` otherwise or on failure (logged)."""
    if not os.environ.get("OPENAI_API_KEY"):
        return None
    try:
        import openai
    except ImportError:
        return None
    try:
        reply = openai.OpenAI().embeddings.create(model=_EMBEDDING_MODEL, input=content[:_SEMANTIC_CHARS])
        return [float(value) for value in reply.data[0].embedding]
    except Exception:  # noqa: BLE001 - a missing embedding only skips the stored fact
        logger.warning("waxell-observe: could not embed a semantic memory with OpenAI", exc_info=True)
        return None


class MemoryMethods(SpanContainerMethods):
    """The memory methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def set_memory_state(
        self,
        *,
        memory_items: list[dict[str, Any]] | None = None,
        cross_session_loaded: bool = False,
        memory_item_count: int = 0,
    ) -> None:
        """What the agent's memory holds: ``memory_state.memory_items`` (only when given),
        ``cross_session_loaded`` and ``memory_item_count``. No governance."""
        if memory_items is not None and not isinstance(memory_items, (list, tuple)):
            raise ValueError(f"memory_items must be a list or None, got {type(memory_items).__name__}")
        check_count(memory_item_count, "memory_item_count")
        run = self._active_run("set_memory_state")
        if run is None:
            return
        items = None if memory_items is None else scrub(to_jsonable(list(memory_items), where="memory_items"))
        loaded = bool(cross_session_loaded)
        self._ensure_conversation(run).update_signal(
            "memory_state", lambda state: set_state(state, items, loaded, memory_item_count)
        )

    def record_memory_write(
        self,
        *,
        memory_type: str,
        content: str = "",
        slot_name: str = "",
        scope_key: str = "",
        data: Any = None,
    ) -> None:
        """One memory write: ``memory_state.memory_writes += {memory_type, content, slot_name?,
        scope_key?, data?}`` (content and data scrubbed, data JSON-safe); with
        ``mid_execution_governance`` the run is then flushed (a ``block`` answer raises)."""
        check_name(memory_type, "memory_type")
        _string(content, "content")
        _string(slot_name, "slot_name")
        _string(scope_key, "scope_key")
        run = self._active_run("record_memory_write")
        if run is None:
            return
        entry: dict[str, Any] = {"memory_type": memory_type, "content": scrub(content)}
        if slot_name:
            entry["slot_name"] = slot_name
        if scope_key:
            entry["scope_key"] = scope_key
        if data is not None:
            entry["data"] = scrub(to_jsonable(data, where="memory data"))
        self._ensure_conversation(run).update_signal("memory_state", lambda state: add_write(state, entry))
        if self.mid_execution_governance:
            self._mid_execution_flush(run)
        _gates.after_memory_write(self, memory_type, content)

    def record_memory_recall(
        self,
        *,
        query: str = "",
        tier: str = "episodic",
        store: str = "",
        results_count: int = 0,
        top_score: float | None = None,
        slot_name: str = "",
        results: list[Any] | None = None,
    ) -> SpanRecord | None:
        """One memory read: a zero-length ``memory`` span ``memory.read:<slot_name or query[:40] or
        "recall">`` (attributes ``operation="read"``, ``tier``, ``store``, ``hit``,
        ``recall_results_count``, ``recall_top_score``; exported as ``waxell.memory.*``) and
        ``memory_state.memory_recalls += {tier, store, query, hit, results_count, top_score,
        results?}``. A hit is ``results_count > 0``. No mid-execution flush."""
        _string(query, "query")
        check_name(tier, "tier")
        _string(store, "store")
        check_count(results_count, "results_count")
        score = _score(top_score, "top_score")
        _string(slot_name, "slot_name")
        if results is not None and not isinstance(results, (list, tuple)):
            raise ValueError(f"results must be a list or None, got {type(results).__name__}")
        run = self._active_run("record_memory_recall")
        if run is None:
            return None
        hit = results_count > 0
        summary = scrub(query[:_SUMMARY_CHARS])
        attributes: dict[str, Any] = {_OPERATION: "read", _TIER: tier}
        if store:
            attributes[_STORE] = store
        attributes[_HIT] = hit
        attributes[_RESULTS_COUNT] = results_count
        if score is not None:
            attributes[_TOP_SCORE] = score
        if slot_name:
            attributes[_SLOT] = slot_name
        handle = self.enter_span(
            f"memory.read:{slot_name or query[:_NAME_QUERY_CHARS] or 'recall'}",
            kind=MEMORY_SPAN_KIND,
            attributes=attributes,
            input_data={"tier": tier, "slot_name": slot_name, "summary": summary},
        )
        span = self.exit_span(
            handle, output_data={"hit": hit, "results_count": results_count, "top_score": score}
        )
        entry: dict[str, Any] = {
            "tier": tier,
            "store": store,
            "query": summary,
            "hit": hit,
            "results_count": results_count,
            "top_score": score,
        }
        if results is not None:
            entry["results"] = _recall_results(list(results))
        self._ensure_conversation(run).update_signal("memory_state", lambda state: add_recall(state, entry))
        _gates.after_memory_read(self, query, store, tier)
        return span

    # -- write and keep ----------------------------------------------------------------------

    def _scope(self, run: Run, scope_key: str | None) -> str:
        """The default scope of a memory: ``<agent>:<session or run id>``."""
        if scope_key is not None:
            return check_name(scope_key, "scope_key")
        owner = run.session_id or run.run_id
        return f"{self.agent_name}:{owner}" if owner else self.agent_name

    def _write_span(
        self, run: Run, tier: str, slot_name: str, scope_key: str, summary: str
    ) -> dict[str, Any]:
        return self.enter_span(
            f"memory.write:{slot_name}",
            kind=MEMORY_SPAN_KIND,
            attributes={_OPERATION: "write", _TIER: tier, _SLOT: slot_name, _SCOPE: scope_key},
            input_data={"tier": tier, "slot_name": slot_name, "summary": scrub(summary[:_SUMMARY_CHARS])},
        )

    def remember_episodic(
        self,
        *,
        slot_name: str,
        data: Any,
        scope_key: str | None = None,
        ttl_seconds: int = 86400,
        max_items: int | None = None,
        memory_type: str | None = None,
    ) -> None:
        """Remember ``data`` in the episodic slot ``slot_name`` of the scope (default
        ``<agent>:<session or run id>``): a ``memory`` span ``memory.write:<slot>``, a
        ``record_memory_write(memory_type="episodic", ...)`` entry, and the memory kept by the
        control plane (remote mode) or the embedded store, for ``ttl_seconds`` (``None``: no
        expiry), at most ``max_items`` items in the slot. A failed write is logged, never raised."""
        check_name(slot_name, "slot_name")
        ttl = _optional_positive(ttl_seconds, "ttl_seconds")
        limit = _optional_positive(max_items, "max_items")
        if memory_type is not None:
            check_name(memory_type, "memory_type")
        run = self._active_run("remember_episodic")
        if run is None:
            return
        scope = self._scope(run, scope_key)
        text = str(data)
        handle = self._write_span(run, "episodic", slot_name, scope, text)
        failure: BaseException | None = None
        try:
            self.record_memory_write(
                memory_type="episodic",
                content=text[:_CONTENT_CHARS],
                slot_name=slot_name,
                scope_key=scope,
                data=data,
            )
            try:
                keep_episodic(
                    run,
                    slot_name=slot_name,
                    scope_key=scope,
                    data=to_jsonable(data, where="episodic memory"),
                    memory_type=memory_type,
                    ttl_seconds=ttl,
                    max_items=limit,
                )
            except Exception as exc:  # noqa: BLE001 - a memory not kept never breaks the agent
                logger.warning("waxell-observe: episodic memory %r not kept: %s", slot_name, exc)
                failure = exc
        except BaseException as exc:
            self.exit_span(handle, exc=exc)
            raise
        self._close_write(handle, "episodic", failure)

    def _close_write(self, handle: dict[str, Any], tier: str, failure: BaseException | None) -> None:
        if failure is None:
            self.exit_span(handle, output_data={"tier": tier})
        else:
            self.exit_span(handle, output_data={"tier": tier}, status="error", error=f"not kept: {failure}")

    def remember_semantic(
        self,
        *,
        slot_name: str,
        content: str,
        scope_key: str | None = None,
        importance: float = 0.7,
        tags: list[str] | None = None,
        fact_key: str | None = None,
        source_tool: str = "",
        content_embedding: list[float] | None = None,
    ) -> None:
        """Remember the fact ``content`` (nothing happens for empty content): a ``memory`` span, a
        ``record_memory_write(memory_type="semantic", ...)`` entry, and, with an embedding
        (``content_embedding``, else an OpenAI ``text-embedding-3-small`` one when
        ``OPENAI_API_KEY`` is set and ``openai`` installed), the fact kept by the control plane or
        the embedded store (without an embedding it is recorded on the run only). A failed write is
        logged, never raised."""
        check_name(slot_name, "slot_name")
        _string(content, "content")
        if not content:
            return
        weight = _score(importance, "importance")
        if tags is not None and (
            not isinstance(tags, (list, tuple)) or not all(isinstance(tag, str) for tag in tags)
        ):
            raise ValueError(f"tags must be a list of strings or None, got {tags!r}")
        if fact_key is not None:
            check_name(fact_key, "fact_key")
        _string(source_tool, "source_tool")
        if content_embedding is not None and not isinstance(content_embedding, (list, tuple)):
            raise ValueError(
                f"content_embedding must be a list of numbers or None, got {content_embedding!r}"
            )
        run = self._active_run("remember_semantic")
        if run is None:
            return
        scope = self._scope(run, scope_key)
        handle = self._write_span(run, "semantic", slot_name, scope, content)
        failure: BaseException | None = None
        try:
            self.record_memory_write(
                memory_type="semantic",
                content=content[:_CONTENT_CHARS],
                slot_name=slot_name,
                scope_key=scope,
                data=content,
            )
            embedding = (
                list(content_embedding) if content_embedding is not None else _openai_embedding(content)
            )
            if embedding is not None:
                try:
                    keep_semantic(
                        run,
                        slot_name=slot_name,
                        scope_key=scope,
                        content=content[:_SEMANTIC_CHARS],
                        content_embedding=embedding,
                        importance=0.7 if weight is None else weight,
                        tags=tags,
                        fact_key=fact_key,
                        source_tool=source_tool,
                    )
                except Exception as exc:  # noqa: BLE001 - a memory not kept never breaks the agent
                    logger.warning("waxell-observe: semantic memory %r not kept: %s", slot_name, exc)
                    failure = exc
        except BaseException as exc:
            self.exit_span(handle, exc=exc)
            raise
        self._close_write(handle, "semantic", failure)
