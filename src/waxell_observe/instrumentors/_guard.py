"""``waxell_observe.instrumentors._guard``: the prompt guard as the reference SDK's instrumentors call it.

``configure(enabled, server, action)`` turns the guard on or off for the process (it updates the
configuration in effect, so the built-in integrations follow it too); ``check_prompt(messages,
model, system)`` scans one request and returns a :class:`~waxell_observe.types.PromptGuardResult`
(or ``None`` when the guard is off or there is no text). It never raises: the instrumentor decides.
The contract: ``action == "block"`` and not ``passed`` → raise ``PromptGuardError(result)`` before
calling the provider; ``redact`` → send ``result.redacted_messages`` (and ``result._redacted_system``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from waxell_observe import prompt_guard
from waxell_observe.config import get_config, set_config
from waxell_observe.errors import PromptGuardError
from waxell_observe.governance.content_scan import fold_confusables
from waxell_observe.types import PromptGuardResult

__all__ = ["ACTIONS", "PromptGuardError", "check_prompt", "configure", "fold_confusables"]

logger = logging.getLogger("waxell_observe")

ACTIONS = ("block", "warn", "redact")
"""What the guard may do; anything else given to :func:`configure` means ``block``."""


def configure(enabled: bool = False, server: bool = False, action: str = "block") -> None:
    """Turn the prompt guard on or off for this process (``server``: also ask the control plane's
    ``prompt-guard/``; ``action``: ``block``, ``warn`` or ``redact``, anything else ``block``)."""
    normalised = action.strip().lower() if isinstance(action, str) else ""
    set_config(
        get_config().replace(
            prompt_guard=bool(enabled),
            prompt_guard_server=bool(server),
            prompt_guard_action=normalised if normalised in ACTIONS else "block",
        )
    )


def _message_text(message: Any) -> str:
    data = message if isinstance(message, Mapping) else prompt_guard._as_mapping(message)
    if data is None:
        return message if isinstance(message, str) else ""
    content = data.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block.get("text")
            for block in content
            if isinstance(block, Mapping) and block.get("type") == "text"
        ]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def _text(messages: Any, system: Any) -> str:
    lines = [system] if isinstance(system, str) and system else []
    items = [messages] if isinstance(messages, str) else list(messages or [])
    lines.extend(text for text in (_message_text(m) for m in items) if text)
    return "\n".join(lines)


def _server_violations(text: str, model: str) -> list[str]:
    """The control plane's findings as ``"[server] <description>"`` (none when unreachable)."""
    from waxell_observe.client import WaxellObserveClient

    try:
        answer = WaxellObserveClient().prompt_guard_sync(text=text, model=model)
    except Exception:  # noqa: BLE001 - the server tier fails open
        logger.warning("waxell-observe: server prompt guard unavailable; local scan only", exc_info=True)
        return []
    found = answer.get("violations") if isinstance(answer, Mapping) else None
    descriptions = []
    for item in found or []:
        detail = item.get("detail") if isinstance(item, Mapping) else item
        if detail:
            descriptions.append(f"[server] {detail}")
    return descriptions


def check_prompt(messages: list[Any], model: str = "", system: str = "") -> PromptGuardResult | None:
    """Scan a request before it is sent; ``None`` when the guard is off or there is no text.

    ``passed`` is False for ``block`` and ``redact`` outcomes, True for a clean request and for
    ``warn`` (logged). ``redact``: ``redacted_messages`` (copies with ``##TYPE##`` placeholders)
    and ``_redacted_system``. Inside a run a non-clean outcome is recorded as a policy span.
    """
    config = prompt_guard._active_config(None)
    if not config.enabled or not config.prompt_guard:
        return None
    text = _text(messages, system)
    if not text.strip():
        return None
    action = config.prompt_guard_action
    started = time.perf_counter()
    try:
        findings, new_messages, new_system = prompt_guard._scan(
            messages, system or None, redact=action == "redact"
        )
    except Exception:  # noqa: BLE001 - the guard fails open, loudly
        logger.exception("waxell-observe: prompt guard could not scan a request to %s; sent unscanned", model)
        return None
    violations = list(dict.fromkeys(f.message for f in findings))
    source = "local"
    if config.prompt_guard_server and config.api_url:
        server = _server_violations(text, model)
        if server:
            violations.extend(server)
            source = "both"
    if not violations:
        return PromptGuardResult(passed=True, action="allow", source=source)
    result = PromptGuardResult(
        passed=action == "warn", action=action, violations=violations, source=source, findings=list(findings)
    )
    if action == "warn":
        logger.warning(
            "waxell-observe: prompt guard: %s (request to %s sent unchanged)", result.reason, model
        )
    elif action == "redact":
        result.redacted_messages = list(new_messages) if isinstance(new_messages, list) else [new_messages]
        result._redacted_system = new_system  # type: ignore[attr-defined]
    prompt_guard._record(result, "", model, (time.perf_counter() - started) * 1000.0)
    return result
