"""The ``waxell.code.*`` attributes of a code execution's ``tool`` span (``record_code_execution``:
``tool_type="code_execution"``), as the reference SDK names them: the language and the code's length
always, the error when there is one, and previews of the code and its output (at most 500
characters) only with ``capture_content`` (they are content)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import attributes as names

__all__ = ["CODE_EXECUTION", "add_code_attributes"]

CODE_EXECUTION = "code_execution"
"""The ``tool_type`` of a code execution's span."""
_PREVIEW = 500


def add_code_attributes(
    attributes: dict[str, Any],
    recorded: Mapping[str, Any],
    span_input: Any,
    span_output: Any,
    error: str,
    *,
    capture_content: bool,
) -> None:
    """Add the ``waxell.code.*`` attributes of the code execution span to ``attributes``."""
    language = recorded.get("language")
    if isinstance(language, str):
        attributes[names.CODE_LANGUAGE] = language
    length = recorded.get("code_length")
    if isinstance(length, int) and not isinstance(length, bool):
        attributes[names.CODE_LENGTH] = length
    if error:
        attributes[names.CODE_ERROR] = error[:_PREVIEW]
    if not capture_content:
        return
    code = span_input.get("code") if isinstance(span_input, Mapping) else None
    if isinstance(code, str) and code:
        attributes[names.CODE_PREVIEW] = code[:_PREVIEW]
    output = span_output.get("output") if isinstance(span_output, Mapping) else None
    if isinstance(output, str) and output:
        attributes[names.CODE_OUTPUT_PREVIEW] = output[:_PREVIEW]
