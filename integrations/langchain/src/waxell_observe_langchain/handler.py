"""WaxellLangChainHandler: LangChain callbacks recorded as waxell-observe records.

Mapping (each LangChain run keeps its place in the tree: its ``run_id`` becomes our span
id, its ``parent_run_id`` the ``parent_span_id`` of what it records):

* chat models and LLMs → :meth:`WaxellContext.record_llm_call` (model, provider, tokens,
  cost, latency, time to first token when streamed, previews, errors; chat messages feed
  the run's conversation state);
* chains (every runnable LangChain reports as a chain) → a ``chain`` span and a step; in a
  LangGraph graph only the nodes are steps (:mod:`~waxell_observe_langchain.graph`);
* tools → ``tool`` spans laid out as :meth:`WaxellContext.record_tool_call` records them;
* retrievers → ``retrieval`` spans laid out as :meth:`WaxellContext.record_retrieval`
  records them (query, documents, scores when the documents carry them);
* agent actions → decisions (``instrumentation_type="auto"``); retries → retry spans.

Where records go: onto the current run (``WaxellContext`` / ``@observe``) when there is
one; otherwise, for a handler created by the user, onto a run of the handler's own that it
opens on the first callback and completes on :meth:`WaxellLangChainHandler.flush_sync` /
:meth:`WaxellLangChainHandler.flush`. The handler installed by ``init()``
(:class:`AutoLangChainHandler`) has no run of its own: outside a run it reports model calls
to the background collector and drops the rest.

Callbacks run inline (``run_inline``), also in async runs: they only build records and
enqueue them. Nothing raised inside a callback reaches LangChain except
:class:`~waxell_observe.errors.PolicyViolationError` (a blocked run), which LangChain
re-raises to the caller because ``raise_error`` is set.

The callbacks here are thin: :mod:`~waxell_observe_langchain.guard` is the envelope each
runs in, :mod:`~waxell_observe_langchain.tree` keeps the run tree (and where records go),
:mod:`~waxell_observe_langchain.mapping` turns LangChain payloads into record fields.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from waxell_observe import integration_api
from waxell_observe.config import get_config
from waxell_observe.context import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.instrumentation.gate_once import in_this_context
from waxell_observe.instrumentation.gates import (
    gate_framework_llm,
    gate_framework_tool,
    gate_retrieval,
    max_tokens_of,
    release,
)
from waxell_observe.pricing import infer_provider
from waxell_observe.records import SpanRecord
from waxell_observe_langchain.content import bounded, message_dict, messages_preview
from waxell_observe_langchain.extract import offered_tool_names, request_params, requested_model
from waxell_observe_langchain.graph import graph_role
from waxell_observe_langchain.guard import guarded
from waxell_observe_langchain.mapping import (
    chain_result,
    decision_attributes,
    llm_call_fields,
    outcome,
    retrieved_documents,
    retry_attributes,
    span_attributes,
    tool_output,
)
from waxell_observe_langchain.own_run import OwnRun
from waxell_observe_langchain.state import (
    FRAMEWORK,
    HIDDEN_TAG,
    Pending,
    config_of,
    describe_error,
    elapsed_ms,
    explicit_claims,
    last_errors,
    offered_tools,
    run_name,
)
from waxell_observe_langchain.tree import RunTree

__all__ = ["WaxellLangChainHandler", "AutoLangChainHandler", "FRAMEWORK"]

_Recorder = Callable[[Pending, WaxellContext, Any, "BaseException | None"], None]
"""Records a finished run of one kind: (its pending record, the run to record onto, what it
returned, the error it raised)."""


class WaxellLangChainHandler(RunTree, OwnRun, BaseCallbackHandler):
    """Records LangChain runs into waxell-observe.

    Pass it as a callback (``chain.invoke(x, config={"callbacks": [handler]})`` or to a
    component's ``callbacks=``). Inside a ``WaxellContext`` / ``@observe`` run it records
    onto that run; used alone it accumulates every invoke it sees into one run of its own,
    named by ``agent_name`` (with ``workflow_name``, ``session_id``, ``user_id``,
    ``user_group`` and ``client`` as in :class:`~waxell_observe.WaxellContext`), completed
    by :meth:`flush_sync` / :meth:`flush`. That run is opened on the first callback, with a
    pre-execution policy check; a ``block`` answer raises
    :class:`~waxell_observe.errors.PolicyViolationError` out of the LangChain call.

    Each callback takes LangChain's keyword arguments: ``run_id``, and in ``kwargs``
    ``parent_run_id``, ``tags``, ``metadata`` and the rest (``name``, ``run_type``,
    ``invocation_params``, ``inputs``...), each absent or ``None`` when LangChain has none.
    Its work runs in :func:`~waxell_observe_langchain.guard.guarded`.
    """

    run_inline = True
    raise_error = True  # only PolicyViolationError ever leaves a callback (see module doc)
    # What BaseCallbackHandler answers through properties, as plain class attributes:
    # LangChain reads one of them before every callback it delivers.
    ignore_llm = False
    ignore_retry = False
    ignore_chain = False
    ignore_agent = False
    ignore_retriever = False
    ignore_chat_model = False
    ignore_custom_event = True
    _explicit = True

    def __init__(
        self,
        agent_name: str,
        workflow_name: str = "default",
        session_id: str = "",
        user_id: str = "",
        user_group: str = "",
        client: Any = None,
    ) -> None:
        if not isinstance(agent_name, str) or not agent_name.strip():
            raise ValueError(f"agent_name must be a non-empty string, got {agent_name!r}")
        for label, value in (
            ("workflow_name", workflow_name),
            ("session_id", session_id),
            ("user_id", user_id),
            ("user_group", user_group),
        ):
            if not isinstance(value, str):
                raise ValueError(f"{label} must be a string, got {type(value).__name__}")
        super().__init__()
        self.agent_name = agent_name
        self.workflow_name = workflow_name or "default"
        self.session_id = session_id
        self.user_id = user_id
        self.user_group = user_group
        self.client = client
        self._runs: dict[UUID, Pending] = {}
        self._lock = threading.Lock()
        self._own: WaxellContext | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- recording what every kind of run shares -----------------------------------------

    def _end(self, record: _Recorder, run_id: UUID, value: Any, error: BaseException | None) -> None:
        """End a chain, tool or retriever run and ``record`` it (with what it returned, or the
        error it raised), unless it has nothing to record here: hidden, no run to record onto,
        or another handler's."""
        pending = self._finish(run_id, error)
        if pending is None:
            return
        release(pending.gate_hold)  # a tool's tool.before hold
        if pending.hidden or pending.target is None or self._deferred(run_id):
            return
        if pending.retry_attempt:
            self._record_retry(pending)
        record(pending, pending.target, value, error)

    @staticmethod
    def _span(
        pending: Pending,
        target: WaxellContext,
        kind: str,
        attributes: dict[str, Any],
        input: Any,
        output: Any,
        status: str,
        error_text: str,
    ) -> SpanRecord | None:
        """Record the span of a finished run onto ``target``, in its place in the tree."""
        return target.record_span(
            kind,
            pending.name,
            status=status,
            duration_ms=elapsed_ms(pending.t0),
            attributes=attributes,
            input=input,
            output=output,
            error=error_text,
            parent_span_id=pending.parent_span_id,
            started_at=pending.started_at,
            span_id=pending.span_id,
        )

    @staticmethod
    def _retry_span(
        target: WaxellContext, attributes: dict[str, Any], parent_span_id: str, started_at: float | None
    ) -> None:
        """Record a retry span and count it, as ``record_retry`` does."""
        span = target.record_span(
            "retry", "retry", attributes=attributes, parent_span_id=parent_span_id, started_at=started_at
        )
        run = target.run
        if span is not None and run is not None:
            run.retry_count += 1

    def _record_retry(self, pending: Pending) -> None:
        """A run tagged ``retry:attempt:N`` (``Runnable.with_retry``) is attempt N: a retry span."""
        target = pending.target
        if not pending.retry_attempt or target is None:
            return
        reason = last_errors.pop(pending.parent_run_id, "")
        attributes = retry_attributes(
            pending.retry_attempt, reason or "retry", reason, "framework", FRAMEWORK
        )
        self._retry_span(target, attributes, pending.parent_span_id, pending.started_at)

    # -- chains ----------------------------------------------------------------------------

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A chain (any runnable) started."""
        if get_config().enabled:
            guarded("on_chain_start", self._start_chain, serialized, inputs, run_id, kwargs)

    def _start_chain(self, serialized: Any, inputs: Any, run_id: UUID, kwargs: dict[str, Any]) -> None:
        tags = kwargs.get("tags")
        hidden = HIDDEN_TAG in tags if tags else False
        pending = self._start(
            "chain", run_name(serialized, kwargs, "chain"), run_id, kwargs, inputs, hidden=hidden
        )
        if not hidden and pending.target is not None:
            pending.input = bounded(inputs, config_of(pending.target))
            run_type = kwargs.get("run_type")
            pending.run_type = run_type if isinstance(run_type, str) else ""
            metadata = kwargs.get("metadata")
            role = graph_role(pending.name, tags, metadata if isinstance(metadata, dict) else None)
            pending.graph_node, pending.graph_step, pending.graph_inner = role.node, role.step, role.inner

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain finished: its span and its step are recorded."""
        guarded("on_chain_end", self._end, self._record_chain, run_id, outputs, None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain raised: its span is recorded with status ``error``."""
        guarded("on_chain_error", self._end, self._record_chain, run_id, None, error)

    def _record_chain(
        self, pending: Pending, target: WaxellContext, outputs: Any, error: BaseException | None
    ) -> None:
        attributes = span_attributes(pending)
        if pending.run_type:
            attributes["run_type"] = pending.run_type
        if pending.graph_node:
            attributes["langgraph.node"] = pending.graph_node
            attributes["langgraph.step"] = pending.graph_step
        output, status, error_text, step_output = chain_result(outputs, error, config_of(target), attributes)
        self._span(pending, target, "chain", attributes, pending.input, output, status, error_text)
        if not pending.graph_inner:  # in a LangGraph graph, the nodes are the steps
            target.record_step(pending.name, output=step_output)

    # -- models ----------------------------------------------------------------------------

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A chat model call started."""
        if get_config().enabled:
            guarded("on_chat_model_start", self._start_model, serialized, messages, True, run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any] | None, prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A (completion) LLM call started."""
        if get_config().enabled:
            guarded("on_llm_start", self._start_model, serialized, prompts, False, run_id, kwargs)

    def _start_model(
        self, serialized: Any, batch: Any, chat_model: bool, run_id: UUID, kwargs: dict[str, Any]
    ) -> None:
        """``batch`` is LangChain's list of message lists (a chat model) or of prompts (an
        LLM): the first is this call's."""
        chat: list[Any] | None = None
        prompt = ""
        if chat_model:
            chat = list(batch[0]) if batch else []
        else:
            prompt = str(batch[0] if batch else "")
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, dict) else {}
        metadata = kwargs.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = run_name(serialized, kwargs, "llm")
        pending = self._start("llm", name, run_id, kwargs, chat if chat is not None else prompt)
        type_name = params.get("_type")
        pending.model = (
            requested_model(params, metadata) or (type_name if isinstance(type_name, str) else "") or name
        )
        hint = metadata.get("ls_provider")
        pending.provider_hint = hint if isinstance(hint, str) else ""
        pending.params = request_params(params)
        offered = offered_tool_names(params)
        try:  # the llm.before gate: a refusal raises here, before the model is called
            pending.gate_hold = gate_framework_llm(
                provider=infer_provider(pending.model) or pending.provider_hint,
                model=pending.model,
                messages=chat if chat is not None else prompt,
                max_tokens=max_tokens_of(params),
                tools=offered or None,
                ctx=pending.target,
            )
        except PolicyViolationError as refused:
            self._finish(run_id, refused)  # nothing was asked of the model: no call is recorded
            self._release_siblings(pending)
            raise
        if chat is not None:
            pending.messages = [message_dict(m) for m in chat]
            pending.prompt = messages_preview(chat)
        else:
            pending.prompt = prompt
        if offered:
            offered_tools[pending.root] = offered
        active = integration_api.framework_call_active()
        if not active:
            pending.mark_previous = integration_api.begin_framework_call(FRAMEWORK)
            pending.marked = True
        elif active != FRAMEWORK:
            pending.outer_framework = active

    def _release_siblings(self, refused: Pending) -> None:
        """A refusal at one prompt of a batch (``generate([m1, m2])`` starts every prompt's run before
        any is called) ends the batch: the prompts started before it in this context never get their end
        callback, so they end here — their held answers, their framework mark, their pending records."""
        for run_id, other in list(self._runs.items()):
            made = other.gate_hold
            if (
                other.kind == "llm"
                and other.parent_run_id == refused.parent_run_id
                and made is not None
                and in_this_context(made)
            ):
                self._finish(run_id)
                release(made)
                if other.marked:
                    integration_api.end_framework_call(other.mark_previous)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed chunk arrived: the first one sets the time to first token."""
        pending = self._runs.get(run_id)
        if pending is not None:
            if not pending.chunks:
                pending.first_token_at = time.perf_counter()
            pending.chunks += 1

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call finished: it is recorded with its usage."""
        guarded("on_llm_end", self._end_model, run_id, response, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call raised (or its stream was abandoned: recorded as ``partial``)."""
        guarded("on_llm_error", self._end_model, run_id, kwargs.get("response"), error)

    def _end_model(self, run_id: UUID, response: Any, error: BaseException | None) -> None:
        """A model call is recorded even with no run to record onto (background collector),
        and left to the outer framework when it runs inside another framework's call."""
        pending = self._finish(run_id, error)
        if pending is None:
            return
        release(pending.gate_hold)
        if pending.marked:
            integration_api.end_framework_call(pending.mark_previous)
        if pending.outer_framework or self._deferred(run_id):
            return
        if pending.retry_attempt:
            self._record_retry(pending)
        fields = llm_call_fields(pending, response, error)
        if pending.target is not None:
            pending.target.record_llm_call(**fields)
        else:
            integration_api.record_llm_call(**fields)

    # -- tools -----------------------------------------------------------------------------

    def on_tool_start(
        self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A tool started (``inputs``, when LangChain passes them, are its arguments)."""
        if get_config().enabled:
            guarded("on_tool_start", self._start_tool, serialized, input_str, run_id, kwargs)

    def _start_tool(self, serialized: Any, input_str: str, run_id: UUID, kwargs: dict[str, Any]) -> None:
        inputs = kwargs.get("inputs")
        value = inputs if inputs is not None else input_str
        pending = self._start("tool", run_name(serialized, kwargs, "tool"), run_id, kwargs, value)
        if pending.target is not None:
            pending.input = bounded(value, config_of(pending.target))
        try:  # the tool.before gate: a refusal raises here, before the tool runs
            _, pending.gate_hold = gate_framework_tool(pending.name, value, ctx=pending.target)
        except PolicyViolationError as refused:
            self._end(self._record_tool, run_id, None, refused)  # LangChain reports no tool error for it
            raise

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool returned."""
        guarded("on_tool_end", self._end, self._record_tool, run_id, output, None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool raised."""
        guarded("on_tool_error", self._end, self._record_tool, run_id, None, error)

    def _record_tool(
        self, pending: Pending, target: WaxellContext, output: Any, error: BaseException | None
    ) -> None:
        attributes = span_attributes(pending)
        attributes["tool_type"] = "function"
        status, error_text = outcome(error)
        if error is not None:
            attributes["error"] = error_text
        value = tool_output(output, config_of(target)) if error is None else None
        output = value if value is not None else ""
        span = self._span(pending, target, "tool", attributes, pending.input, output, status, error_text)
        run = target.run
        if span is not None and run is not None:  # what record_tool_call counts
            run.tool_call_count += 1
            run.tool_names.append(pending.name)

    # -- retrievers ------------------------------------------------------------------------

    def on_retriever_start(
        self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A retriever started."""
        if get_config().enabled:
            guarded("on_retriever_start", self._start_retriever, serialized, query, run_id, kwargs)

    def _start_retriever(self, serialized: Any, query: str, run_id: UUID, kwargs: dict[str, Any]) -> None:
        pending = self._start("retrieval", run_name(serialized, kwargs, "retriever"), run_id, kwargs, query)
        if pending.target is not None:
            pending.input = bounded(query, config_of(pending.target))
        store = (kwargs.get("metadata") or {}).get("ls_vector_store_provider")
        pending.source = store if isinstance(store, str) else ""

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever returned its documents."""
        guarded("on_retriever_end", self._end, self._record_retrieval, run_id, documents, None)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever raised."""
        guarded("on_retriever_error", self._end, self._record_retrieval, run_id, None, error)

    def _record_retrieval(
        self, pending: Pending, target: WaxellContext, documents: Any, error: BaseException | None
    ) -> None:
        docs, scores = retrieved_documents(documents, config_of(target))
        attributes = span_attributes(pending)
        attributes.update({"source": pending.name, "document_count": len(docs)})
        if docs and len(scores) == len(docs):
            attributes["scores"] = scores
        if pending.source:
            attributes["vector_store"] = pending.source
        status, error_text = outcome(error)
        query = {"query": pending.input}
        self._span(pending, target, "retrieval", attributes, query, {"documents": docs}, status, error_text)
        if error is None:
            text = pending.input if isinstance(pending.input, str) else str(pending.input or "")
            gate_retrieval(text, docs, source=pending.name, scores=scores or None, ctx=target)

    # -- agents and retries ------------------------------------------------------------------

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent chose a tool: recorded as a decision (``instrumentation_type="auto"``)."""
        if get_config().enabled:
            guarded("on_agent_action", self._decision, action, run_id)

    def _decision(self, action: Any, run_id: UUID) -> None:
        placement = self._placement(run_id)
        if placement is None:
            return
        target, parent_span_id, root = placement
        chosen = str(getattr(action, "tool", "") or "")
        options = list(offered_tools.get(root) or [])
        if chosen and chosen not in options:
            options.append(chosen)
        target.record_span(
            "decision",
            "agent_action",
            attributes=decision_attributes(action, config_of(target), run_id),
            input={"options": options},
            output={"chosen": chosen},
            parent_span_id=parent_span_id,
        )

    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An LLM's own retry loop (LangChain's retry decorator) failed an attempt: a retry span."""
        if get_config().enabled:
            guarded("on_retry", self._model_retry, retry_state, run_id)

    def _model_retry(self, retry_state: Any, run_id: UUID) -> None:
        placement = self._placement(run_id)
        if placement is None:
            return
        target, parent_span_id, _root = placement
        attempt = getattr(retry_state, "attempt_number", 1)
        attempt_outcome = getattr(retry_state, "outcome", None)
        error = None
        if attempt_outcome is not None and getattr(attempt_outcome, "failed", False):
            error = attempt_outcome.exception()
        reason = describe_error(error) if error is not None else "retry"
        attributes = retry_attributes(
            attempt if isinstance(attempt, int) else 1,
            reason,
            reason if error is not None else "",
            "langchain_run_id",
            str(run_id),
        )
        self._retry_span(target, attributes, parent_span_id, None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agent_name={self.agent_name!r})"


class AutoLangChainHandler(WaxellLangChainHandler):
    """The handler ``init()`` installs through LangChain's configure hook.

    It has no run of its own: it records onto the current run, and outside any run it
    reports model calls to the background collector (chains, tools and retrievals outside a
    run have nowhere to go and are not recorded). A run that a user-created
    :class:`WaxellLangChainHandler` also sees is left to that handler.
    """

    _explicit = False

    def __init__(self) -> None:
        super().__init__(agent_name="langchain")

    def _own_context(self, inputs: Any) -> WaxellContext | None:
        return None

    def _deferred(self, run_id: UUID) -> bool:
        return run_id in explicit_claims

    def flush_sync(self, result: Any = None) -> str:
        """Nothing to complete: this handler has no run of its own."""
        return ""

    async def flush(self, result: Any = None) -> str:
        """Nothing to complete: this handler has no run of its own."""
        return ""
