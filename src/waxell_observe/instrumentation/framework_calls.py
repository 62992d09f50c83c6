"""The LLM record of an agent framework's model call that no provider integration reported.

The agent-framework integrations (Agno, AutoGen, CrewAI, smolagents, Strands) watch their framework's
model calls: when the request went through an instrumented provider SDK, that integration records it;
otherwise the call is recorded from the framework's own usage by :func:`record_framework_llm_call`,
with what every such record carries (timing, the ``framework`` and ``recorded_from`` attributes, a
preview of the answer, the error) around what the framework tells (model, tokens, ...). It never
raises: a telemetry failure is logged and the framework's call goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from waxell_observe import integration_api
from waxell_observe.serialize import preview

__all__ = ["record_framework_llm_call"]

logger = logging.getLogger("waxell_observe")

_ANSWER_PREVIEW = 500
_ERROR_PREVIEW = 2000


def record_framework_llm_call(
    describe: Callable[[], tuple[dict[str, Any], Any]],
    *,
    framework: str,
    recorded_from: str,
    started: float,
    error: BaseException | None = None,
    what: str,
) -> None:
    """Record one model call started at ``started`` (``time.time()``) with
    :func:`waxell_observe.integration_api.record_llm_call`.

    ``describe()`` reads the framework's objects: it returns the call's own fields (``model``,
    ``tokens_in``, ``tokens_out``, ...) and its answer (previewed as ``response_preview`` when it is
    a non-empty string). Added: ``duration_ms``, ``started_at``, the attributes ``framework`` and
    ``recorded_from``, and with ``error`` the ``status`` ``error``, ``error_type`` and
    ``error_message``. A failure (of ``describe`` too) is logged as ``waxell-observe: could not
    record <what>``, never raised.
    """
    try:
        fields, answer = describe()
        fields |= {
            "duration_ms": round((time.time() - started) * 1000.0, 3),
            "started_at": started,
            "attributes": {"framework": framework, "recorded_from": recorded_from},
        }
        if isinstance(answer, str) and answer:
            fields["response_preview"] = preview(answer, _ANSWER_PREVIEW)
        if error is not None:
            fields |= {
                "status": "error",
                "error_type": type(error).__name__,
                "error_message": preview(str(error), _ERROR_PREVIEW),
            }
        integration_api.record_llm_call(**fields)
    except Exception:
        logger.exception("waxell-observe: could not record %s", what)
