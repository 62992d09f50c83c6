"""WaxellObserveClient: the handle on a destination, and an HTTP client of the control plane.

``WaxellObserveClient.configure(api_url=..., api_key=...)`` sets the process-wide
configuration used by contexts created afterwards. An instance carries its own
configuration; pass it as ``WaxellContext(client=...)`` to send one run elsewhere.

An instance also speaks the control-plane wire protocol directly: one method per endpoint
(``check_policy``, ``start_run``, ``record_llm_calls``, ... ``get_config``), each with an
``a``-prefixed async twin. Requests go to ``{api_url}/api/v1/observe/`` with the key in
``X-Wax-Key`` (no key header at all when the key is empty: a local-mode server accepts
that). Failures raise :class:`ControlPlaneError`, which says whether a retry may help.
``httpx`` is imported on first use, never by ``import waxell_observe``.

Agents rarely call these methods: in remote mode the SDK's background worker does, with
batching, retries and a spool (see ``docs/remote.md``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from waxell_observe.config import ObserveConfig, get_config, resolve_config, set_config
from waxell_observe.transport.errors import ControlPlaneError, parse_retry_after

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

    from waxell_observe.governance.results import PolicyCheckResult

__all__ = ["API_PREFIX", "DEFAULT_TIMEOUT", "ControlPlaneError", "WaxellObserveClient"]

logger = logging.getLogger("waxell_observe")

DEFAULT_TIMEOUT = 10.0
"""Seconds a request may take (connect, read, write each), unless the call says otherwise."""

API_PREFIX = "/api/v1/observe/"

_USER_AGENT = "waxell-observe-python"
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class _Request:
    """One request of the wire protocol, before it is sent."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None


def _segment(value: str, what: str) -> str:
    """A run id (or prompt name) as one path segment; an empty one is a caller error."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """Drop optional fields left as ``None`` (clients send sparse records)."""
    return {key: value for key, value in body.items() if value is not None}


class WaxellObserveClient:
    """A configured destination for runs, and a client of its wire protocol.

    ``WaxellObserveClient()`` uses the global configuration; ``WaxellObserveClient(api_url=...,
    api_key=..., **options)`` resolves its own (arguments, then environment, then config file).
    ``timeout`` (seconds, default :data:`DEFAULT_TIMEOUT`) bounds each request unless a call
    passes its own. Use it as a (async) context manager, or call :meth:`close` /
    :meth:`aclose`, to release its connections.
    """

    # Class-level defaults keep an instance made with ``__new__`` (plus ``config``) usable.
    timeout: float = DEFAULT_TIMEOUT
    _lock = threading.Lock()
    _http: httpx.Client | None = None
    _http_pid = 0
    _async_clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] | None = None

    def __init__(self, api_url: str | None = None, api_key: str | None = None, **options: Any) -> None:
        timeout = options.pop("timeout", None)
        if api_url is None and api_key is None and not options:
            self.config: ObserveConfig = get_config()
        else:
            self.config = resolve_config(api_url=api_url, api_key=api_key, **options)
        if timeout is None:
            self.timeout = DEFAULT_TIMEOUT
        else:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
                raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
            self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._http_pid = 0
        self._async_clients = {}

    @classmethod
    def from_config(cls, config: ObserveConfig, *, timeout: float | None = None) -> WaxellObserveClient:
        """A client for exactly ``config`` (no environment or file lookup)."""
        client = cls(timeout=timeout)
        client.config = config
        return client

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def base_url(self) -> str:
        """``{api_url}/api/v1/observe/`` (empty when no ``api_url`` is configured)."""
        if not self.config.api_url:
            return ""
        return self.config.api_url.rstrip("/") + API_PREFIX

    @classmethod
    def configure(
        cls, api_url: str | None = None, api_key: str | None = None, **options: Any
    ) -> ObserveConfig:
        """Set the global configuration (arguments first, then environment and config file)."""
        config = resolve_config(api_url=api_url, api_key=api_key, **options)
        set_config(config)
        from waxell_observe import plugins

        if plugins._pm is not None:
            plugins._pm.hook.on_configure(config=config)
        return config

    def __repr__(self) -> str:
        return f"WaxellObserveClient(api_url={self.api_url!r})"

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        from waxell_observe import __version__

        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"{_USER_AGENT}/{__version__}",
        }
        if self.config.api_key:
            headers["X-Wax-Key"] = self.config.api_key
        return headers

    def _url(self, path: str) -> str:
        base = self.base_url
        if not base:
            raise ValueError("this client has no api_url: configure api_url to talk to a control plane")
        return base + path

    def _sync_http(self) -> httpx.Client:
        pid = os.getpid()
        http = self._http
        if http is not None and self._http_pid == pid:
            return http
        import httpx

        with self._lock:
            if self._http is None or self._http_pid != pid:
                # After a fork the parent's pooled sockets are not ours: start a fresh pool.
                self._http = httpx.Client(headers=self._headers(), follow_redirects=False, trust_env=False)
                self._http_pid = pid
            return self._http

    def _async_http(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        clients = self._async_clients
        if clients is None:
            clients = self._async_clients = {}
        key = id(loop)
        entry = clients.get(key)
        if entry is not None and entry[0] is loop:
            return entry[1]
        for other_key, (other_loop, _client) in list(clients.items()):
            if other_loop.is_closed():
                del clients[other_key]
        http = httpx.AsyncClient(headers=self._headers(), follow_redirects=False, trust_env=False)
        clients[key] = (loop, http)
        return http

    def _timeout(self, timeout: float | None) -> httpx.Timeout:
        import httpx

        seconds = self.timeout if timeout is None else timeout
        return httpx.Timeout(seconds, connect=min(seconds, 5.0))

    def request(
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
        """Send one request to ``{base_url}{path}`` and return the reply's JSON object.

        The body is ``json_body`` encoded, or ``content`` (JSON text already encoded) as is.
        ``headers`` are added to the client's own (e.g. a W3C ``traceparent``).
        An empty 2xx body is ``{}``. Raises :class:`ControlPlaneError` for everything else.
        """
        import httpx

        url = self._url(path)
        try:
            response = self._sync_http().request(
                method, url, json=json_body if content is None else None, content=_bytes(content),
                params=dict(params) if params else None, timeout=self._timeout(timeout),
                headers=dict(headers) if headers else None,
            )  # fmt: skip
        except httpx.TimeoutException as exc:
            raise ControlPlaneError(
                f"{method} {path}: no answer within the timeout ({type(exc).__name__})",
                method=method, path=path, retryable=True,
            ) from exc  # fmt: skip
        except httpx.HTTPError as exc:
            raise ControlPlaneError(
                f"{method} {path}: {type(exc).__name__}: {exc}", method=method, path=path, retryable=True
            ) from exc
        return _reply(method, path, response.status_code, response.headers, response.content)

    async def arequest(
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
        """Async :meth:`request`."""
        import httpx

        url = self._url(path)
        try:
            response = await self._async_http().request(
                method, url, json=json_body if content is None else None, content=_bytes(content),
                params=dict(params) if params else None, timeout=self._timeout(timeout),
                headers=dict(headers) if headers else None,
            )  # fmt: skip
        except httpx.TimeoutException as exc:
            raise ControlPlaneError(
                f"{method} {path}: no answer within the timeout ({type(exc).__name__})",
                method=method, path=path, retryable=True,
            ) from exc  # fmt: skip
        except httpx.HTTPError as exc:
            raise ControlPlaneError(
                f"{method} {path}: {type(exc).__name__}: {exc}", method=method, path=path, retryable=True
            ) from exc
        return _reply(method, path, response.status_code, response.headers, response.content)

    def _send(self, req: _Request, timeout: float | None) -> dict[str, Any]:
        return self.request(req.method, req.path, json_body=req.body, params=req.params, timeout=timeout)

    async def _asend(self, req: _Request, timeout: float | None) -> dict[str, Any]:
        return await self.arequest(
            req.method, req.path, json_body=req.body, params=req.params, timeout=timeout
        )

    def close(self) -> None:
        """Close the pooled connections of the sync client (async ones: :meth:`aclose`)."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None and self._http_pid == os.getpid():
            http.close()

    async def aclose(self) -> None:
        """Close the pooled connections of this event loop's async client (and the sync ones)."""
        loop = asyncio.get_running_loop()
        entry = self._async_clients.pop(id(loop), None) if self._async_clients else None
        if entry is not None:
            await entry[1].aclose()
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- endpoints: sync ----------------------------------------------------------------------

    def check_policy(
        self,
        agent_name: str,
        workflow_name: str = "",
        agent_id: str = "",
        *,
        inputs: dict[str, Any] | None = None,
        user_id: str | None = None,
        user_group: str | None = None,
        metadata: dict[str, Any] | None = None,
        signal: dict[str, Any] | None = None,
        agent_type: str | None = None,
        surface: str | None = None,
        categories: Sequence[str] | None = None,
        policies: Sequence[str] | None = None,
        workflow_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> PolicyCheckResult:
        """POST ``policy-check/``: ask the control plane whether a run may proceed.

        With ``surface`` it is a gate check at a named point of a run (``categories``,
        ``policies``, ``workflow_id``). ``extra`` adds fields of your own to the body.
        ``timeout`` defaults to the configuration's ``policy_timeout``.
        """
        req = _policy_check(agent_name, workflow_name, agent_id, inputs, user_id, user_group, metadata, signal,
                            agent_type, surface, categories, policies, workflow_id, extra)  # fmt: skip
        return _policy_result(self._send(req, self.config.policy_timeout if timeout is None else timeout))

    def get_policy_manifest(
        self,
        agent_name: str = "",
        workflow_name: str = "",
        agent_id: str = "",
        user_group: str = "",
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """GET ``policy-manifest/``: the policies that apply, by surface."""
        return self._send(_manifest(agent_name, workflow_name, agent_id, user_group), timeout)

    def start_run(
        self,
        agent_name: str,
        workflow_name: str = "default",
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        trace_id: str = "",
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        user_group: str | None = None,
        interaction_mode: str | None = None,
        parent_workflow_id: str | None = None,
        root_workflow_id: str | None = None,
        pre_execution_evaluations: list[dict[str, Any]] | None = None,
        agent_slug: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``runs/start/``. Returns the reply: ``run_id``, ``workflow_id``, ``started_at``.

        ``run_id`` asks the server to use that id (our server honours it when free; another
        may assign its own: use the ``run_id`` of the reply afterwards). ``interaction_mode``
        defaults to ``interactive`` when ``session_id`` is set, else ``autonomous``.
        """
        req = _start(agent_name, workflow_name, inputs, metadata, trace_id, session_id, user_id, user_group,
                     interaction_mode, parent_workflow_id, root_workflow_id, pre_execution_evaluations,
                     agent_slug, agent_id, run_id, tags, extra)  # fmt: skip
        return self._send(req, timeout)

    def record_llm_calls(
        self,
        run_id: str,
        calls: Sequence[Mapping[str, Any]],
        conversation_state: Mapping[str, Any] | None = None,
        hardware_uuid: str | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/llm-calls/``. The reply may hold ``governance``."""
        return self._send(_llm_calls(run_id, calls, conversation_state, hardware_uuid), timeout)

    def record_steps(
        self,
        run_id: str,
        steps: Sequence[Mapping[str, Any]],
        conversation_state: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/steps/``. The reply may hold ``governance``."""
        return self._send(_steps(run_id, steps, conversation_state), timeout)

    def record_spans(
        self, run_id: str, spans: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/spans/``."""
        return self._send(_records(run_id, "spans", spans), timeout)

    def record_scores(
        self, run_id: str, scores: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/scores/``."""
        return self._send(_records(run_id, "scores", scores), timeout)

    def complete_run(
        self,
        run_id: str,
        result: dict[str, Any] | None = None,
        status: str = "success",
        error: str = "",
        steps: list[dict[str, Any]] | None = None,
        *,
        error_type: str | None = None,
        traceback: str | None = None,
        trace_id: str | None = None,
        root_span_id: str | None = None,
        conversation_state: Mapping[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        ended_at: str | float | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/complete/``. The reply holds ``run_id``, ``duration`` and the
        post-execution ``governance``."""
        req = _complete(run_id, result, status, error, steps, error_type, traceback, trace_id, root_span_id,
                        conversation_state, tags, metadata, ended_at, extra)  # fmt: skip
        return self._send(req, timeout)

    def send_events(
        self, events: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """POST ``events/``: audit events ``{workflow_id, agent_name, workflow_name, event, metadata}``."""
        return self._send(_Request("POST", "events/", {"events": [dict(e) for e in events]}), timeout)

    def governance_decision(
        self,
        agent_name: str,
        workflow_id: str,
        surface: str,
        decisions: Sequence[Mapping[str, Any]],
        span_only: bool = False,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``governance-decision/``: decisions taken locally at ``surface``. Reply: ``run_found``."""
        return self._send(_decision(agent_name, workflow_id, surface, decisions, span_only), timeout)

    def get_prompt(
        self, name: str, label: str | None = None, version: int | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """GET ``prompts/{name}/``: a managed prompt (404 raises :class:`ControlPlaneError`)."""
        return self._send(_prompt(name, label, version), timeout)

    def get_config(self, *, timeout: float | None = None) -> dict[str, Any]:
        """GET ``config/``: ``otel_endpoint``, ``tenant_id``, ``tenant_slug``."""
        return self._send(_Request("GET", "config/"), timeout)

    # -- endpoints: async -----------------------------------------------------------------------

    async def acheck_policy(
        self,
        agent_name: str,
        workflow_name: str = "",
        agent_id: str = "",
        *,
        inputs: dict[str, Any] | None = None,
        user_id: str | None = None,
        user_group: str | None = None,
        metadata: dict[str, Any] | None = None,
        signal: dict[str, Any] | None = None,
        agent_type: str | None = None,
        surface: str | None = None,
        categories: Sequence[str] | None = None,
        policies: Sequence[str] | None = None,
        workflow_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> PolicyCheckResult:
        """Async :meth:`check_policy`."""
        req = _policy_check(agent_name, workflow_name, agent_id, inputs, user_id, user_group, metadata, signal,
                            agent_type, surface, categories, policies, workflow_id, extra)  # fmt: skip
        return _policy_result(
            await self._asend(req, self.config.policy_timeout if timeout is None else timeout)
        )

    async def aget_policy_manifest(
        self,
        agent_name: str = "",
        workflow_name: str = "",
        agent_id: str = "",
        user_group: str = "",
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`get_policy_manifest`."""
        return await self._asend(_manifest(agent_name, workflow_name, agent_id, user_group), timeout)

    async def astart_run(
        self,
        agent_name: str,
        workflow_name: str = "default",
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        trace_id: str = "",
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        user_group: str | None = None,
        interaction_mode: str | None = None,
        parent_workflow_id: str | None = None,
        root_workflow_id: str | None = None,
        pre_execution_evaluations: list[dict[str, Any]] | None = None,
        agent_slug: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`start_run`."""
        req = _start(agent_name, workflow_name, inputs, metadata, trace_id, session_id, user_id, user_group,
                     interaction_mode, parent_workflow_id, root_workflow_id, pre_execution_evaluations,
                     agent_slug, agent_id, run_id, tags, extra)  # fmt: skip
        return await self._asend(req, timeout)

    async def arecord_llm_calls(
        self,
        run_id: str,
        calls: Sequence[Mapping[str, Any]],
        conversation_state: Mapping[str, Any] | None = None,
        hardware_uuid: str | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`record_llm_calls`."""
        return await self._asend(_llm_calls(run_id, calls, conversation_state, hardware_uuid), timeout)

    async def arecord_steps(
        self,
        run_id: str,
        steps: Sequence[Mapping[str, Any]],
        conversation_state: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`record_steps`."""
        return await self._asend(_steps(run_id, steps, conversation_state), timeout)

    async def arecord_spans(
        self, run_id: str, spans: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Async :meth:`record_spans`."""
        return await self._asend(_records(run_id, "spans", spans), timeout)

    async def arecord_scores(
        self, run_id: str, scores: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Async :meth:`record_scores`."""
        return await self._asend(_records(run_id, "scores", scores), timeout)

    async def acomplete_run(
        self,
        run_id: str,
        result: dict[str, Any] | None = None,
        status: str = "success",
        error: str = "",
        steps: list[dict[str, Any]] | None = None,
        *,
        error_type: str | None = None,
        traceback: str | None = None,
        trace_id: str | None = None,
        root_span_id: str | None = None,
        conversation_state: Mapping[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        ended_at: str | float | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`complete_run`."""
        req = _complete(run_id, result, status, error, steps, error_type, traceback, trace_id, root_span_id,
                        conversation_state, tags, metadata, ended_at, extra)  # fmt: skip
        return await self._asend(req, timeout)

    async def asend_events(
        self, events: Sequence[Mapping[str, Any]], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Async :meth:`send_events`."""
        return await self._asend(_Request("POST", "events/", {"events": [dict(e) for e in events]}), timeout)

    async def agovernance_decision(
        self,
        agent_name: str,
        workflow_id: str,
        surface: str,
        decisions: Sequence[Mapping[str, Any]],
        span_only: bool = False,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Async :meth:`governance_decision`."""
        return await self._asend(_decision(agent_name, workflow_id, surface, decisions, span_only), timeout)

    async def aget_prompt(
        self, name: str, label: str | None = None, version: int | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Async :meth:`get_prompt`."""
        return await self._asend(_prompt(name, label, version), timeout)

    async def aget_config(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Async :meth:`get_config`."""
        return await self._asend(_Request("GET", "config/"), timeout)


# -- request builders (shared by the sync and async methods) -----------------------------------


def _policy_check(
    agent_name: str,
    workflow_name: str,
    agent_id: str,
    inputs: dict[str, Any] | None,
    user_id: str | None,
    user_group: str | None,
    metadata: dict[str, Any] | None,
    signal: dict[str, Any] | None,
    agent_type: str | None,
    surface: str | None,
    categories: Sequence[str] | None,
    policies: Sequence[str] | None,
    workflow_id: str | None,
    extra: Mapping[str, Any] | None,
) -> _Request:
    if not isinstance(agent_name, str) or not agent_name:
        raise ValueError(f"agent_name must be a non-empty string, got {agent_name!r}")
    body: dict[str, Any] = {
        "agent_name": agent_name,
        "workflow_name": workflow_name or "",
        "agent_id": agent_id or "",
        "inputs": inputs if inputs is not None else {},
        "user_id": user_id,
        "user_group": user_group,
        "metadata": metadata,
        "signal": signal,
        "agent_type": agent_type,
    }
    if surface is not None:
        body.update(
            surface=surface,
            categories=list(categories) if categories is not None else [],
            policies=list(policies) if policies is not None else [],
            workflow_id=workflow_id or "",
        )
    elif workflow_id:
        body["workflow_id"] = workflow_id
    if extra:
        body.update(extra)
    return _Request("POST", "policy-check/", _compact(body))


def _policy_result(reply: Mapping[str, Any]) -> PolicyCheckResult:
    from waxell_observe.governance.results import PolicyCheckResult

    return PolicyCheckResult.from_dict(reply)


def _manifest(agent_name: str, workflow_name: str, agent_id: str, user_group: str) -> _Request:
    params = {
        "agent_name": agent_name,
        "workflow_name": workflow_name,
        "agent_id": agent_id,
        "user_group": user_group,
    }
    return _Request("GET", "policy-manifest/", params={k: v for k, v in params.items() if v})


def _start(
    agent_name: str,
    workflow_name: str,
    inputs: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    trace_id: str,
    session_id: str | None,
    user_id: str | None,
    user_group: str | None,
    interaction_mode: str | None,
    parent_workflow_id: str | None,
    root_workflow_id: str | None,
    pre_execution_evaluations: list[dict[str, Any]] | None,
    agent_slug: str | None,
    agent_id: str | None,
    run_id: str | None,
    tags: dict[str, str] | None,
    extra: Mapping[str, Any] | None,
) -> _Request:
    if not isinstance(agent_name, str) or not agent_name:
        raise ValueError(f"agent_name must be a non-empty string, got {agent_name!r}")
    body: dict[str, Any] = {
        "agent_name": agent_name,
        "workflow_name": workflow_name or "default",
        "inputs": inputs if inputs is not None else {},
        "metadata": metadata if metadata is not None else {},
        "trace_id": trace_id or "",
        "session_id": session_id or None,
        "user_id": user_id or None,
        "user_group": user_group or None,
        "interaction_mode": interaction_mode or ("interactive" if session_id else "autonomous"),
        "parent_workflow_id": parent_workflow_id or None,
        "root_workflow_id": root_workflow_id or None,
        "pre_execution_evaluations": pre_execution_evaluations,
        "agent_slug": agent_slug,
        "agent_id": agent_id,
        "run_id": run_id or None,
        "tags": tags,
    }
    if extra:
        body.update(extra)
    return _Request("POST", "runs/start/", _compact(body))


def _llm_calls(
    run_id: str,
    calls: Sequence[Mapping[str, Any]],
    conversation_state: Mapping[str, Any] | None,
    hardware_uuid: str | None,
) -> _Request:
    body: dict[str, Any] = {"calls": [dict(c) for c in calls]}
    if conversation_state:
        body["conversation_state"] = dict(conversation_state)
    if hardware_uuid:
        body["hardware_uuid"] = hardware_uuid
    return _Request("POST", f"runs/{_segment(run_id, 'run_id')}/llm-calls/", body)


def _steps(
    run_id: str, steps: Sequence[Mapping[str, Any]], conversation_state: Mapping[str, Any] | None
) -> _Request:
    body: dict[str, Any] = {"steps": [dict(s) for s in steps]}
    if conversation_state:
        body["conversation_state"] = dict(conversation_state)
    return _Request("POST", f"runs/{_segment(run_id, 'run_id')}/steps/", body)


def _records(run_id: str, kind: str, records: Sequence[Mapping[str, Any]]) -> _Request:
    return _Request("POST", f"runs/{_segment(run_id, 'run_id')}/{kind}/", {kind: [dict(r) for r in records]})


def _complete(
    run_id: str,
    result: dict[str, Any] | None,
    status: str,
    error: str,
    steps: list[dict[str, Any]] | None,
    error_type: str | None,
    traceback: str | None,
    trace_id: str | None,
    root_span_id: str | None,
    conversation_state: Mapping[str, Any] | None,
    tags: dict[str, str] | None,
    metadata: dict[str, Any] | None,
    ended_at: str | float | None,
    extra: Mapping[str, Any] | None,
) -> _Request:
    body: dict[str, Any] = {
        "result": result if result is not None else {},
        "status": status,
        "error": error or "",
        "steps": steps if steps is not None else [],
        "error_type": error_type or None,
        "traceback": traceback or None,
        "trace_id": trace_id or None,
        "root_span_id": root_span_id or None,
        "conversation_state": dict(conversation_state) if conversation_state else None,
        "tags": tags,
        "metadata": metadata,
        "ended_at": ended_at,
    }
    if extra:
        body.update(extra)
    return _Request("POST", f"runs/{_segment(run_id, 'run_id')}/complete/", _compact(body))


def _decision(
    agent_name: str, workflow_id: str, surface: str, decisions: Sequence[Mapping[str, Any]], span_only: bool
) -> _Request:
    body = {
        "agent_name": agent_name,
        "workflow_id": workflow_id,
        "surface": surface,
        "decisions": [dict(d) for d in decisions],
        "span_only": bool(span_only),
    }
    return _Request("POST", "governance-decision/", body)


def _prompt(name: str, label: str | None, version: int | None) -> _Request:
    params: dict[str, str] = {}
    if label:
        params["label"] = label
    if version is not None:
        params["version"] = str(version)
    return _Request("GET", f"prompts/{_segment(name, 'prompt name')}/", params=params or None)


# -- replies -------------------------------------------------------------------------------------


def _bytes(content: str | bytes | None) -> bytes | None:
    return content.encode("utf-8") if isinstance(content, str) else content


def _detail(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_DETAIL_CHARS]
    if isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        return (detail if isinstance(detail, str) else json.dumps(detail))[:_DETAIL_CHARS]
    return text[:_DETAIL_CHARS]


def _reply(method: str, path: str, status: int, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx reply, or the :class:`ControlPlaneError` that describes the failure."""
    if 200 <= status < 300:
        if not content.strip():
            return {}
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        raise ControlPlaneError(
            f"{method} {path}: HTTP {status} with a reply that is not a JSON object",
            method=method, path=path, status=status, detail=content[:_DETAIL_CHARS].decode("utf-8", "replace"),
            accepted=True,
        )  # fmt: skip
    detail = _detail(content)
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        raise ControlPlaneError(
            f"{method} {path}: HTTP 429 (rate limited; retry after {retry_after}s): {detail}",
            method=method, path=path, status=status, detail=detail, retryable=True, retry_after=retry_after,
        )  # fmt: skip
    if status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after"))
        raise ControlPlaneError(
            f"{method} {path}: HTTP {status}: {detail}",
            method=method, path=path, status=status, detail=detail, retryable=True, retry_after=retry_after,
        )  # fmt: skip
    if 300 <= status < 400:
        where = headers.get("location", "")
        raise ControlPlaneError(
            f"{method} {path}: HTTP {status} redirect to {where!r} (the protocol never redirects: check api_url)",
            method=method, path=path, status=status, detail=detail,
        )  # fmt: skip
    raise ControlPlaneError(
        f"{method} {path}: HTTP {status}: {detail}", method=method, path=path, status=status, detail=detail
    )
