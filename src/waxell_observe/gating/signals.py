"""What a gate looks at: the caller's signal, enriched with the run's gate metadata (spec §2.4), the
text a content policy scans, and a trimmed JSON copy for a control plane."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from waxell_observe.serialize import to_jsonable

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["MAX_CITATIONS", "enriched", "scanned_text", "trimmed"]

MAX_CITATIONS = 50
_TEXT_KEYS = ("text", "content", "output", "input", "prompt", "query", "code", "url")
_MAX_STRING = 4000
_MAX_ITEMS = 50
_MAX_DEPTH = 6
_SCALARS = (str, int, float, bool)


def gate_metadata(run: Run) -> dict[str, Any]:
    """The run's metadata entries holding non-empty scalars, its privacy context, and up to 50
    citations gathered from grounding checks."""
    metadata: dict[str, Any] = {
        key: value for key, value in run.metadata.items() if isinstance(value, _SCALARS) and value != ""
    }
    conversation = run.conversation
    if conversation is not None:
        privacy = conversation.signal("privacy_context")
        if isinstance(privacy, Mapping):
            metadata.update({k: v for k, v in privacy.items() if v})
        grounding = conversation.signal("grounding_data")
        if isinstance(grounding, list):
            citations: list[Any] = []
            for item in grounding:
                found = item.get("citations") if isinstance(item, Mapping) else None
                if isinstance(found, list):
                    citations.extend(found[: MAX_CITATIONS - len(citations)])
                if len(citations) >= MAX_CITATIONS:
                    break
            if citations:
                metadata["citations"] = citations
    return metadata


def enriched(signal: Mapping[str, Any], run: Run | None) -> dict[str, Any]:
    """``signal`` plus ``metadata`` (the run's gate metadata under the caller's own entries)."""
    result = dict(signal)
    if run is not None:
        extra = gate_metadata(run)
        given = result.get("metadata")
        if isinstance(given, Mapping):
            extra.update(given)
        if extra:
            result["metadata"] = extra
    return result


def scanned_text(signal: Mapping[str, Any]) -> str | None:
    """The first text of the signal a content policy reads (``text``, ``content``, ``output``, ...)."""
    for key in _TEXT_KEYS:
        value = signal.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _trim(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _MAX_STRING else value[-_MAX_STRING:]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= _MAX_DEPTH:
        return str(value)[:200]
    if isinstance(value, Mapping):
        return {str(k): _trim(v, depth + 1) for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, (list, tuple)):
        return [_trim(v, depth + 1) for v in value[:_MAX_ITEMS]]
    return _trim(to_jsonable(value, where="gate signal"), depth + 1)


def trimmed(signal: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of ``signal`` for a control plane: strings cut to their last 4,000 characters,
    lists and objects to 50 items, nesting to 6 levels."""
    result: dict[str, Any] = _trim(signal, 0)
    return result
