"""WaxellLangChainHandler: LangChain callbacks recorded as waxell-observe records.

Mapping (each LangChain run keeps its place in the tree: its ``run_id`` becomes our span
id, its ``parent_run_id`` the ``parent_span_id`` of what it records):

* chat models and LLMs → :meth:`WaxellContext.record_llm_call` (model, provider, tokens,
  cost, latency, time to first token when streamed, previews, errors; chat messages feed
  the run's conversation state);
* chains (every runnable LangChain reports as a chain) → a ``chain`` span and a step;
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
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from waxell_observe import integration_api
from waxell_observe.config import get_config
from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.pricing import infer_provider
from waxell_observe.serialize import preview
from waxell_observe_langchain.content import bounded, message_dict, messages_preview
from waxell_observe_langchain.extract import (
    document_score,
    finish_reason_of,
    first_generation,
    offered_tool_names,
    request_params,
    requested_model,
    served_model,
    tool_calls_of,
    usage_of,
)
from waxell_observe_langchain.own_run import OwnRun
from waxell_observe_langchain.state import (
    ERROR_LIMIT,
    FRAMEWORK,
    HIDDEN_TAG,
    RETRY_TAG,
    Pending,
    config_of,
    describe_error,
    elapsed_ms,
    explicit_claims,
    last_errors,
    links,
    offered_tools,
    run_name,
)

__all__ = ["WaxellLangChainHandler", "AutoLangChainHandler", "FRAMEWORK"]

logger = logging.getLogger("waxell_observe")


class WaxellLangChainHandler(OwnRun, BaseCallbackHandler):
    """Records LangChain runs into waxell-observe.

    Pass it as a callback (``chain.invoke(x, config={"callbacks": [handler]})`` or to a
    component's ``callbacks=``). Inside a ``WaxellContext`` / ``@observe`` run it records
    onto that run; used alone it accumulates every invoke it sees into one run of its own,
    named by ``agent_name`` (with ``workflow_name``, ``session_id``, ``user_id``,
    ``user_group`` and ``client`` as in :class:`~waxell_observe.WaxellContext`), completed
    by :meth:`flush_sync` / :meth:`flush`. That run is opened on the first callback, with a
    pre-execution policy check; a ``block`` answer raises
    :class:`~waxell_observe.errors.PolicyViolationError` out of the LangChain call.
    """

    run_inline = True
    raise_error = True  # only PolicyViolationError ever leaves a callback (see module doc)
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
        self._finalizer: weakref.finalize | None = None

    @property
    def ignore_custom_event(self) -> bool:
        return True

    # -- bookkeeping -----------------------------------------------------------------------

    def _target(self, inputs: Any) -> WaxellContext | None:
        ctx = current_context.get()
        if ctx is not None:
            run = ctx.run
            if run is not None and run.status == "running":
                return ctx
        return self._own_context(inputs)

    def _start(
        self,
        kind: str,
        name: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        inputs: Any,
        *,
        hidden: bool = False,
    ) -> Pending:
        link = links.get(parent_run_id) if parent_run_id is not None else None
        if link is not None:
            parent_span_id, root = link
        else:
            parent_span_id, root = "", parent_run_id or run_id
        span_id = parent_span_id if hidden else run_id.hex
        target = self._target(inputs)
        pending = Pending(
            kind=kind,
            name=name,
            span_id=span_id,
            parent_span_id=parent_span_id,
            parent_run_id=parent_run_id,
            root=root,
            target=target,
            started_at=time.time(),
            t0=time.perf_counter(),
            tags=list(tags) if tags else [],
            hidden=hidden,
        )
        for tag in pending.tags:
            if tag.startswith(RETRY_TAG) and tag[len(RETRY_TAG) :].isdigit():
                pending.retry_attempt = int(tag[len(RETRY_TAG) :])
        links[run_id] = (span_id, root)
        self._runs[run_id] = pending
        if self._explicit:
            explicit_claims[run_id] = explicit_claims.get(run_id, 0) + 1
        return pending

    def _finish(self, run_id: UUID, error: BaseException | None = None) -> Pending | None:
        pending = self._runs.pop(run_id, None)
        links.pop(run_id, None)
        last_errors.pop(run_id, None)
        if pending is None:
            return None
        if error is not None and not isinstance(error, GeneratorExit):
            last_errors[pending.parent_run_id] = describe_error(error)
        if self._explicit:
            count = explicit_claims.pop(run_id, 0) - 1
            if count > 0:
                explicit_claims[run_id] = count
        if pending.root == run_id:
            offered_tools.pop(run_id, None)
        return pending

    def _deferred(self, run_id: UUID) -> bool:
        """True when another handler records this run (see :class:`AutoLangChainHandler`)."""
        return False

    def _record_retry(self, pending: Pending) -> None:
        """A run tagged ``retry:attempt:N`` (``Runnable.with_retry``) is attempt N: a retry span."""
        target = pending.target
        if not pending.retry_attempt or target is None:
            return
        reason = last_errors.pop(pending.parent_run_id, "")
        span = target.record_span(
            "retry",
            "retry",
            attributes={
                "attempt": pending.retry_attempt,
                "reason": reason or "retry",
                "strategy": "retry",
                "original_error": reason,
                "fallback_to": "",
                "max_attempts": None,
                "framework": FRAMEWORK,
            },
            parent_span_id=pending.parent_span_id,
            started_at=pending.started_at,
        )
        run = target.run
        if span is not None and run is not None:  # what record_retry counts
            run.retry_count += 1

    def _attributes(self, pending: Pending, run_id: UUID) -> dict[str, Any]:
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "langchain_run_id": str(run_id)}
        if pending.tags:
            attributes["tags"] = pending.tags
        return attributes

    # -- chains ----------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain (any runnable) started."""
        if not get_config().enabled:
            return
        try:
            hidden = bool(tags) and HIDDEN_TAG in tags  # type: ignore[operator]
            pending = self._start(
                "chain",
                run_name(serialized, kwargs, "chain"),
                run_id,
                parent_run_id,
                tags,
                inputs,
                hidden=hidden,
            )
            if not hidden and pending.target is not None:
                pending.input = bounded(inputs, config_of(pending.target))
                run_type = kwargs.get("run_type")
                pending.run_type = run_type if isinstance(run_type, str) else ""
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_chain_start failed")

    def _end_chain(self, run_id: UUID, outputs: Any, error: BaseException | None) -> None:
        pending = self._finish(run_id, error)
        if pending is None or pending.hidden or pending.target is None or self._deferred(run_id):
            return
        self._record_retry(pending)
        target = pending.target
        attributes = self._attributes(pending, run_id)
        if pending.run_type:
            attributes["run_type"] = pending.run_type
        status, error_text = "ok", ""
        if error is None:
            output = bounded(outputs, config_of(target))
            step_output: dict[str, Any] = {"output": output}
        elif isinstance(error, GeneratorExit):
            output, attributes["partial"] = None, True
            step_output = {"partial": True}
        else:
            output, status, error_text = None, "error", describe_error(error)
            step_output = {"error": error_text}
        target.record_span(
            "chain",
            pending.name,
            status=status,
            duration_ms=elapsed_ms(pending.t0),
            attributes=attributes,
            input=pending.input,
            output=output,
            error=error_text,
            parent_span_id=pending.parent_span_id,
            started_at=pending.started_at,
            span_id=pending.span_id,
        )
        target.record_step(pending.name, output=step_output)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A chain finished: its span and its step are recorded."""
        try:
            self._end_chain(run_id, outputs, None)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_chain_end failed")

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A chain raised: its span is recorded with status ``error``."""
        try:
            self._end_chain(run_id, None, error)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_chain_error failed")

    # -- models ----------------------------------------------------------------------------

    def _start_model(
        self,
        serialized: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        chat: list[Any] | None,
        prompt: str,
    ) -> None:
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, dict) else {}
        metadata = metadata if isinstance(metadata, dict) else {}
        name = run_name(serialized, kwargs, "llm")
        pending = self._start("llm", name, run_id, parent_run_id, tags, chat if chat is not None else prompt)
        type_name = params.get("_type")
        pending.model = (
            requested_model(params, metadata) or (type_name if isinstance(type_name, str) else "") or name
        )
        hint = metadata.get("ls_provider")
        pending.provider_hint = hint if isinstance(hint, str) else ""
        pending.params = request_params(params)
        if chat is not None:
            pending.messages = [message_dict(m) for m in chat]
            pending.prompt = messages_preview(chat)
        else:
            pending.prompt = prompt
        offered = offered_tool_names(params)
        if offered:
            offered_tools[pending.root] = offered
        active = integration_api.framework_call_active()
        if not active:
            pending.mark_previous = integration_api.begin_framework_call(FRAMEWORK)
            pending.marked = True
        elif active != FRAMEWORK:
            pending.outer_framework = active

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model call started."""
        if not get_config().enabled:
            return
        try:
            chat = list(messages[0]) if messages else []
            self._start_model(serialized, run_id, parent_run_id, tags, metadata, kwargs, chat, "")
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_chat_model_start failed")

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A (completion) LLM call started."""
        if not get_config().enabled:
            return
        try:
            prompt = prompts[0] if prompts else ""
            self._start_model(serialized, run_id, parent_run_id, tags, metadata, kwargs, None, str(prompt))
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_llm_start failed")

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed chunk arrived: the first one sets the time to first token."""
        pending = self._runs.get(run_id)
        if pending is not None:
            if not pending.chunks:
                pending.first_token_at = time.perf_counter()
            pending.chunks += 1

    def _end_model(self, run_id: UUID, response: Any, error: BaseException | None) -> None:
        pending = self._finish(run_id, error)
        if pending is None:
            return
        if pending.marked:
            integration_api.end_framework_call(pending.mark_previous)
        if pending.outer_framework or self._deferred(run_id):
            return
        self._record_retry(pending)
        generation = first_generation(response) if response is not None else None
        usage = usage_of(response) if response is not None else None
        model = (served_model(response) if response is not None else "") or pending.model
        text = getattr(generation, "text", "") if generation is not None else ""
        text = text if isinstance(text, str) else ""
        tool_calls = tool_calls_of(generation) if generation is not None else []
        finish = finish_reason_of(generation) if generation is not None else None
        attributes = self._attributes(pending, run_id)
        if model != pending.model:
            attributes["request_model"] = pending.model
        if pending.params:
            attributes["request"] = pending.params
        if pending.chunks:
            attributes["streamed"] = True
            attributes["chunks"] = pending.chunks
            attributes["time_to_first_token_ms"] = round((pending.first_token_at - pending.t0) * 1000.0, 3)
        if usage is None or not usage.reported:
            attributes["usage_reported"] = False
        response_preview = text or (
            "tool_calls: " + ", ".join(f"{c['name']}({c['args']})" for c in tool_calls) if tool_calls else ""
        )
        fields: dict[str, Any] = {
            "model": model,
            "tokens_in": usage.tokens_in if usage else 0,
            "tokens_out": usage.tokens_out if usage else 0,
            "cached_tokens_in": usage.cached_tokens_in if usage else 0,
            "provider": infer_provider(model) or pending.provider_hint,
            "prompt_preview": pending.prompt,
            "response_preview": response_preview,
            "duration_ms": elapsed_ms(pending.t0),
            "started_at": pending.started_at,
            "parent_span_id": pending.parent_span_id,
        }
        if error is not None and isinstance(error, GeneratorExit):
            attributes["partial"] = True
        elif error is not None:
            fields["status"] = "error"
            fields["error_type"] = type(error).__name__
            fields["error_message"] = str(error)[:ERROR_LIMIT]
        if error is None and pending.messages is not None:
            fields["messages"] = pending.messages
            fields["response_text"] = text
            fields["response_tool_calls"] = tool_calls or None
        if finish:
            fields["finish_reason"] = finish
        fields["attributes"] = attributes
        if pending.target is not None:
            pending.target.record_llm_call(**fields)
        else:
            integration_api.record_llm_call(**fields)

    def on_llm_end(
        self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A model call finished: it is recorded with its usage."""
        try:
            self._end_model(run_id, response, None)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_llm_end failed")

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A model call raised (or its stream was abandoned: recorded as ``partial``)."""
        try:
            self._end_model(run_id, kwargs.get("response"), error)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_llm_error failed")

    # -- tools -----------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool started."""
        if not get_config().enabled:
            return
        try:
            value = inputs if inputs is not None else input_str
            pending = self._start(
                "tool", run_name(serialized, kwargs, "tool"), run_id, parent_run_id, tags, value
            )
            if pending.target is not None:
                pending.input = bounded(value, config_of(pending.target))
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_tool_start failed")

    def _end_tool(self, run_id: UUID, output: Any, error: BaseException | None) -> None:
        pending = self._finish(run_id, error)
        if pending is None or pending.target is None or self._deferred(run_id):
            return
        self._record_retry(pending)
        target = pending.target
        attributes = self._attributes(pending, run_id)
        attributes["tool_type"] = "function"
        status, error_text, value = "ok", "", None
        if error is not None:
            status, error_text = "error", describe_error(error)
            attributes["error"] = error_text
        else:
            if hasattr(output, "tool_call_id") and hasattr(output, "content"):  # ToolMessage
                output = output.content
            value = bounded(output, config_of(target))
        span = target.record_span(
            "tool",
            pending.name,
            status=status,
            duration_ms=elapsed_ms(pending.t0),
            attributes=attributes,
            input=pending.input,
            output=value if value is not None else "",
            error=error_text,
            parent_span_id=pending.parent_span_id,
            started_at=pending.started_at,
            span_id=pending.span_id,
        )
        run = target.run
        if span is not None and run is not None:  # what record_tool_call counts
            run.tool_call_count += 1
            run.tool_names.append(pending.name)

    def on_tool_end(
        self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A tool returned."""
        try:
            self._end_tool(run_id, output, None)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_tool_end failed")

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A tool raised."""
        try:
            self._end_tool(run_id, None, error)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_tool_error failed")

    # -- retrievers ------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A retriever started."""
        if not get_config().enabled:
            return
        try:
            pending = self._start(
                "retrieval", run_name(serialized, kwargs, "retriever"), run_id, parent_run_id, tags, query
            )
            if pending.target is not None:
                pending.input = bounded(query, config_of(pending.target))
            store = (metadata or {}).get("ls_vector_store_provider")
            pending.source = store if isinstance(store, str) else ""
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_retriever_start failed")

    def _end_retriever(self, run_id: UUID, documents: Any, error: BaseException | None) -> None:
        pending = self._finish(run_id, error)
        if pending is None or pending.target is None or self._deferred(run_id):
            return
        self._record_retry(pending)
        target = pending.target
        config = config_of(target)
        docs: list[dict[str, Any]] = []
        scores: list[float] = []
        for document in documents or []:
            metadata = getattr(document, "metadata", None) or {}
            entry: dict[str, Any] = {
                "id": getattr(document, "id", None) or "",
                "content": bounded(getattr(document, "page_content", ""), config),
                "metadata": bounded(metadata, config),
            }
            score = document_score(metadata)
            if score is not None:
                entry["score"] = score
                scores.append(score)
            docs.append(entry)
        attributes = self._attributes(pending, run_id)
        attributes.update({"source": pending.name, "document_count": len(docs)})
        if docs and len(scores) == len(docs):
            attributes["scores"] = scores
        if pending.source:
            attributes["vector_store"] = pending.source
        status, error_text = "ok", ""
        if error is not None:
            status, error_text = "error", describe_error(error)
        target.record_span(
            "retrieval",
            pending.name,
            status=status,
            duration_ms=elapsed_ms(pending.t0),
            attributes=attributes,
            input={"query": pending.input},
            output={"documents": docs},
            error=error_text,
            parent_span_id=pending.parent_span_id,
            started_at=pending.started_at,
            span_id=pending.span_id,
        )

    def on_retriever_end(
        self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A retriever returned its documents."""
        try:
            self._end_retriever(run_id, documents, None)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_retriever_end failed")

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """A retriever raised."""
        try:
            self._end_retriever(run_id, None, error)
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_retriever_error failed")

    # -- agents and retries ------------------------------------------------------------------

    def _owner(self, run_id: UUID) -> tuple[WaxellContext | None, str, UUID]:
        """Where a record made on behalf of LangChain run ``run_id`` goes, its parent and root."""
        pending = self._runs.get(run_id)
        link = links.get(run_id)
        parent_span_id, root = link if link is not None else ("", run_id)
        target = pending.target if pending is not None else self._target(None)
        return target, parent_span_id, root

    def on_agent_action(
        self, action: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """An agent chose a tool: recorded as a decision (``instrumentation_type="auto"``)."""
        if not get_config().enabled:
            return
        try:
            if self._deferred(run_id):
                return
            target, parent_span_id, root = self._owner(run_id)
            if target is None:
                return
            chosen = str(getattr(action, "tool", "") or "")
            options = list(offered_tools.get(root) or [])
            if chosen and chosen not in options:
                options.append(chosen)
            config = config_of(target)
            target.record_span(
                "decision",
                "agent_action",
                attributes={
                    "reasoning": preview(
                        getattr(action, "log", "") or "",
                        0 if config.capture_content else config.preview_chars,
                    ),
                    "confidence": None,
                    "instrumentation_type": "auto",
                    "metadata": {
                        "tool_input": bounded(getattr(action, "tool_input", None), config),
                        "langchain_run_id": str(run_id),
                    },
                },
                input={"options": options},
                output={"chosen": chosen},
                parent_span_id=parent_span_id,
            )
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_agent_action failed")

    def on_retry(
        self, retry_state: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """An LLM's own retry loop (LangChain's retry decorator) failed an attempt: a retry span."""
        if not get_config().enabled:
            return
        try:
            if self._deferred(run_id):
                return
            target, parent_span_id, _root = self._owner(run_id)
            if target is None:
                return
            attempt = getattr(retry_state, "attempt_number", 1)
            outcome = getattr(retry_state, "outcome", None)
            error = None
            if outcome is not None and getattr(outcome, "failed", False):
                error = outcome.exception()
            reason = describe_error(error) if error is not None else "retry"
            span = target.record_span(
                "retry",
                "retry",
                attributes={
                    "attempt": attempt if isinstance(attempt, int) else 1,
                    "reason": reason,
                    "strategy": "retry",
                    "original_error": reason if error is not None else "",
                    "fallback_to": "",
                    "max_attempts": None,
                    "langchain_run_id": str(run_id),
                },
                parent_span_id=parent_span_id,
            )
            run = target.run
            if span is not None and run is not None:  # what record_retry counts
                run.retry_count += 1
        except PolicyViolationError:
            raise
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LangChain on_retry failed")

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
