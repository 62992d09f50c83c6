"""Prompts on a run: which managed prompt (name, version, label) a run used."""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe.context.base import ContextBase
from waxell_observe.context.checks import check_name
from waxell_observe.records import SpanRecord

__all__ = ["PromptMethods"]

logger = logging.getLogger("waxell_observe")


class PromptMethods(ContextBase):
    """``record_prompt_use`` / ``set_prompt_name`` of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def record_prompt_use(
        self, *, name: str, version: int = 0, label: str = "", content_hash: str = ""
    ) -> SpanRecord | None:
        """Record that the run used the prompt ``name``: a zero-length ``prompt`` span named
        ``prompt.use:<name>`` with attributes ``name`` and (when set) ``version``, ``label``,
        ``content_hash`` (the prompt kind's attributes over OTLP); input ``{name, version, label,
        content_hash}``, output ``{version}``. Never raises; no governance."""
        try:
            check_name(name, "prompt name")
            run = self._active_run("record_prompt_use")
            if run is None:
                return None
            attributes: dict[str, Any] = {"name": name}
            for key, value in (("version", version), ("label", label), ("content_hash", content_hash)):
                if value:
                    attributes[key] = value
            return self._add_span(
                run,
                "prompt",
                f"prompt.use:{name}",
                duration_ms=0.0,
                attributes=attributes,
                input={"name": name, "version": version, "label": label, "content_hash": content_hash},
                output={"version": version},
            )
        except Exception:  # noqa: BLE001 - documented never to raise
            logger.warning("waxell-observe: could not record the use of prompt %r", name, exc_info=True)
            return None

    def set_prompt_name(self, name: str) -> None:
        """Name the run's prompt: ``conversation_state["prompt_name"]`` (stored alongside other
        state, not alone). With ``mid_execution_governance`` the run is flushed."""
        check_name(name, "prompt name")
        run = self._active_run("set_prompt_name")
        if run is None:
            return
        self._ensure_conversation(run).set_signal("prompt_name", name, counts=False)
        if self.mid_execution_governance:
            self._mid_execution_flush(run)
