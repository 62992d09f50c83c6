"""The client's prompt methods: ``get_prompt`` (cached) and ``invalidate_prompt_cache``."""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe.client import builders, transport
from waxell_observe.client.base import ClientBase
from waxell_observe.client.loop import run_sync
from waxell_observe.errors import PromptNotFoundError
from waxell_observe.transport.errors import ControlPlaneError
from waxell_observe.types import PromptInfo

__all__ = ["PromptMethods"]

logger = logging.getLogger("waxell_observe")

_DETAIL_CHARS = 200


class PromptMethods(ClientBase):
    async def get_prompt(
        self, name: str, *, label: str = "", version: int = 0, use_cache: bool = True
    ) -> PromptInfo:
        """GET ``prompts/{name}/``: the prompt at ``version`` (0: the one ``label`` names, or the latest).

        A fresh cached copy is returned without a request when ``use_cache`` is true and
        ``prompt_cache_ttl`` > 0; every fetch refreshes the cache. Raises
        :class:`~waxell_observe.errors.PromptNotFoundError` when the prompt cannot be had
        (``status_code`` 404 when the server does not know it; another status, or ``None``
        when no answer came). The active run, if any, records the prompt's use.
        """
        key = (name, label, version)
        info = self._prompts.get(key, self.prompt_cache_ttl) if use_cache else None
        if info is None:
            info = await self._fetch_prompt(name, label, version)
            if self.prompt_cache_ttl > 0:
                self._prompts.put(key, info)
        _record_use(info, label)
        return info

    def get_prompt_sync(self, **kwargs: Any) -> PromptInfo:
        """Blocking :meth:`get_prompt` (keyword arguments only)."""
        return run_sync(self.get_prompt(**kwargs))

    def invalidate_prompt_cache(self, name: str = "") -> None:
        """Forget cached copies of prompt ``name`` (every label and version), or of every prompt."""
        self._prompts.invalidate(name)

    async def _fetch_prompt(self, name: str, label: str, version: int) -> PromptInfo:
        req = builders.prompt(name=name, label=label, version=version)
        if not self.config.api_url:
            raise PromptNotFoundError(name, label, version, None, "the client is not configured (no api_url)")
        try:
            reply = await transport.send_once(self._pools, self.config, req, transport.READ_TIMEOUT)
        except ControlPlaneError as exc:
            raise PromptNotFoundError(
                name, label, version, exc.status, (exc.detail or str(exc))[:_DETAIL_CHARS]
            ) from exc
        except Exception as exc:  # noqa: BLE001 - any failure to fetch is "not found" for the caller
            raise PromptNotFoundError(name, label, version, None, str(exc)[:_DETAIL_CHARS]) from exc
        if not reply:
            raise PromptNotFoundError(name, label, version, 200, "empty reply")
        return PromptInfo.from_reply(name, reply)


def _record_use(info: PromptInfo, label: str) -> None:
    from waxell_observe.current import get_context

    ctx: Any = get_context()
    record = getattr(ctx, "record_prompt_use", None)
    if record is None or not getattr(ctx, "run_id", None):
        return
    try:
        record(name=info.name, version=info.version, label=label, content_hash=info.content_hash)
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.debug("waxell-observe: could not record the use of prompt %r", info.name, exc_info=True)
