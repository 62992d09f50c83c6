"""The client's configuration, its class-level members and its two ways of sending.

``send``/``send_sync`` (and ``request``/``request_sync``) are strict: they raise
:class:`~waxell_observe.transport.errors.ControlPlaneError` and are what the SDK's own senders
use. The wire-protocol methods (``runs.py``, ``governance.py``, ``prompts.py``) go through
:meth:`ClientBase._call`, which follows the protocol's retries and never raises.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from waxell_observe import config as _config
from waxell_observe.client import breaker, transport
from waxell_observe.client.http import DEFAULT_TIMEOUT, HttpPools, Request, headers_for, reply, url_for
from waxell_observe.client.prompt_cache import PromptCache
from waxell_observe.config import ObserveConfig, resolve_config

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ClientBase"]


def _positive(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


class ClientBase:
    """What every method of :class:`~waxell_observe.WaxellObserveClient` stands on."""

    DEFAULT_PROMPT_CACHE_TTL: ClassVar[float] = 60.0
    _configured_memo: ClassVar[bool | None] = None

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        prompt_cache_ttl: float | None = None,
        **options: Any,
    ) -> None:
        timeout = options.pop("timeout", None)
        if options:
            self.config: ObserveConfig = resolve_config(api_url=api_url, api_key=api_key, **options)
        else:
            config = _config.get_config()
            changes = {k: v for k, v in (("api_url", api_url), ("api_key", api_key)) if v is not None}
            self.config = config.replace(**changes) if changes else config
        self.timeout = DEFAULT_TIMEOUT if timeout is None else _positive(timeout)
        self.prompt_cache_ttl = float(
            self.DEFAULT_PROMPT_CACHE_TTL if prompt_cache_ttl is None else prompt_cache_ttl
        )
        self._pools = HttpPools()
        self._prompts = PromptCache()
        self._threads_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ObserveConfig, *, timeout: float | None = None) -> Self:
        """A client for exactly ``config`` (no environment or file lookup)."""
        client = cls(timeout=timeout)
        client.config = config
        return client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.config.api_url!r})"

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    # -- class-level ------------------------------------------------------------------------

    @classmethod
    def configure(cls, api_url: str | None = None, api_key: str | None = None, **options: Any) -> None:
        """Set the process-wide configuration (arguments first, then environment and file).

        Keyword options are any :class:`~waxell_observe.ObserveConfig` field (ours).
        """
        config = resolve_config(api_url=api_url, api_key=api_key, **options)
        _config.set_config(config)
        ClientBase._configured_memo = None
        from waxell_observe import plugins

        if plugins._pm is not None:
            plugins._pm.hook.on_configure(config=config)

    @classmethod
    def get_config(cls) -> ObserveConfig | None:
        """The process-wide configuration when one was set or resolved, else ``None`` (no HTTP)."""
        return _config.current_config()

    @classmethod
    def is_configured(cls) -> bool:
        """True when a control plane URL is configured (globally, else by environment or file)."""
        current = _config.current_config()
        if current is not None and current.api_url:
            return True
        memo = ClientBase._configured_memo
        if memo is None:
            memo = ClientBase._configured_memo = bool(resolve_config().api_url)
        return memo

    @classmethod
    def reset_connection_breaker(cls) -> None:
        """Forget which hosts the connection breaker is skipping."""
        breaker.reset()

    # -- identity sent on run start ---------------------------------------------------------------

    def _agent_slug(self) -> str:
        return self.config.agent_slug or str(self.config.extra.get("agent_slug") or "")

    def _agent_external_id(self) -> str:
        return self.config.agent_external_id or str(self.config.extra.get("agent_external_id") or "")

    # -- sending ----------------------------------------------------------------------------------

    async def _call(self, req: Request) -> dict[str, Any]:
        """``req`` with the protocol's retries and breaker; ``{}`` on any failure."""
        return await transport.call(self._pools, self.config, req)

    def send_sync(
        self, req: Request, *, timeout: float | None = None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Send ``req`` once, blocking; raises ``ControlPlaneError`` (strict, for the SDK's senders)."""
        return self.request_sync(
            req.method, req.path, json_body=req.body, params=req.params, timeout=timeout, headers=headers
        )

    async def send(self, req: Request, *, timeout: float | None = None) -> dict[str, Any]:
        """Send ``req`` once; raises ``ControlPlaneError``."""
        return await self.request(
            req.method, req.path, json_body=req.body, params=req.params, timeout=timeout
        )

    def request_sync(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One blocking request to ``path`` (relative to ``{api_url}/api/v1/observe/``); its reply's
        JSON object (``{}`` for an empty 2xx). Raises ``ControlPlaneError`` for everything else.
        ``content`` is a body already encoded as JSON; ``headers`` are added to the client's own."""
        import httpx

        from waxell_observe.client.http import transport_error

        url = url_for(self.config.api_url, path)
        data = content.encode("utf-8") if isinstance(content, str) else content
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                response = self._pools.sync_client().request(
                    method,
                    url,
                    json=json_body if data is None else None,
                    content=data,
                    params=dict(params) if params else None,
                    timeout=self._timeout(timeout),
                    headers={**headers_for(self.config.api_key), **(headers or {})},
                )
            except httpx.RemoteProtocolError as exc:
                # a kept-alive connection the server closed as the request went out ("disconnected
                # without sending a response"): a GET is asked again at once on a fresh connection
                if attempt + 1 < attempts:
                    continue
                raise transport_error(method, path, exc) from exc
            except httpx.HTTPError as exc:
                raise transport_error(method, path, exc) from exc
            break
        return reply(method, path, response.status_code, response.headers, response.content)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The coroutine twin of :meth:`request_sync` (strict: raises ``ControlPlaneError``)."""
        seconds = self.timeout if timeout is None else timeout
        return await transport.send_once(
            self._pools,
            self.config,
            Request(method, path, json_body, dict(params) if params else None),
            seconds,
        )

    def _timeout(self, timeout: float | None) -> Any:
        import httpx

        seconds = self.timeout if timeout is None else timeout
        return httpx.Timeout(seconds, connect=min(seconds, 5.0))

    # -- lifetime ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Release the connections pooled for the running event loop (and the blocking pool)."""
        await self._pools.aclose()

    def close_sync(self) -> None:
        """Release the blocking connection pool."""
        self._pools.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close_sync()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
