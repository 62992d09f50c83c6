"""Where a waiting agent keeps its pending approval: the embedded store, or a control plane.

Both backends do the same three things for :mod:`waxell_observe.approval_control_plane`: create the
pending approval, wait (at most some seconds) for it to be answered, and close it when the agent stops
waiting. Each returns an :class:`ApprovalState`. Heavy imports (SQLAlchemy, httpx) happen on first use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from waxell_observe.vocabulary.approvals import PENDING

__all__ = ["ApprovalState", "ApprovalBackend", "EmbeddedApprovals", "RemoteApprovals", "LONG_POLL_SECONDS"]

logger = logging.getLogger("waxell_observe")

LONG_POLL_SECONDS = 5.0
"""How long one ``GET approvals/{id}/?wait=`` is held at most (short enough for a cancelled wait to
notice promptly; the answer itself comes back as soon as it is given)."""


@dataclass(frozen=True)
class ApprovalState:
    """What the waiting agent needs to know about its approval."""

    id: str
    status: str
    decided_by: str = ""
    comment: str = ""

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalState:
        status = data.get("status")
        if not isinstance(status, str) or not isinstance(data.get("id"), str):
            raise ValueError(f"not an approval: {dict(data)!r:.200}")
        return cls(str(data["id"]), status, str(data.get("decided_by") or ""), str(data.get("comment") or ""))


class ApprovalBackend(Protocol):
    """Where approvals live (see the module docstring)."""

    where: str
    """Said in log messages: the store's URL or the control plane's address."""

    def create(self, fields: Mapping[str, Any], timeout_seconds: float) -> ApprovalState: ...

    def wait(self, approval_id: str, seconds: float) -> ApprovalState: ...

    def close(self, approval_id: str, status: str) -> ApprovalState: ...


class EmbeddedApprovals:
    """Approvals in the embedded store (SQLite or PostgreSQL), polled every ``poll_interval`` seconds."""

    def __init__(self, db_url: str, poll_interval: float) -> None:
        from waxell_observe.store import get_store

        self.store = get_store(db_url)
        self.poll_interval = poll_interval
        self.where = f"the store {db_url}"

    @staticmethod
    def _state(approval: Any) -> ApprovalState:
        return ApprovalState(approval.id, approval.status, approval.decided_by, approval.comment)

    def create(self, fields: Mapping[str, Any], timeout_seconds: float) -> ApprovalState:
        from waxell_observe.store.approvals import create_approval

        return self._state(create_approval(self.store, timeout_seconds=timeout_seconds, **fields))

    def wait(self, approval_id: str, seconds: float) -> ApprovalState:
        from waxell_observe.store.approvals import wait_for_answer

        return self._state(
            wait_for_answer(self.store, approval_id, timeout=seconds, poll_interval=self.poll_interval)
        )

    def close(self, approval_id: str, status: str) -> ApprovalState:
        from waxell_observe.store.approvals import close_approval

        return self._state(close_approval(self.store, approval_id, status, by="agent"))


class RemoteApprovals:
    """Approvals on a control plane (``/api/v1/observe/approvals/``), long-polled."""

    def __init__(self, api_url: str, api_key: str, poll_interval: float) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.poll_interval = poll_interval
        self.where = f"the control plane at {api_url}"

    def _send(self, method: str, path: str, *, body: Any = None, params: Any = None, timeout: float) -> Any:
        import httpx

        from waxell_observe.client.http import headers_for, reply, transport_error, url_for

        try:
            response = httpx.request(
                method,
                url_for(self.api_url, path),
                headers=headers_for(self.api_key),
                json=body,
                params=params,
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise transport_error(method, path, exc) from None
        return reply(method, path, response.status_code, response.headers, response.content)

    def create(self, fields: Mapping[str, Any], timeout_seconds: float) -> ApprovalState:
        body = {**fields, "timeout_seconds": timeout_seconds}
        if "approval_id" in body:
            body["id"] = body.pop("approval_id")
        return ApprovalState.from_dict(self._send("POST", "approvals/", body=body, timeout=15.0))

    def wait(self, approval_id: str, seconds: float) -> ApprovalState:
        """One long-poll of at most ``seconds`` (and :data:`LONG_POLL_SECONDS`). A failed request is
        logged and retried after ``poll_interval`` until the time is up; then the last error is raised."""
        from waxell_observe.transport.errors import ControlPlaneError

        deadline = time.monotonic() + seconds
        while True:
            left = max(0.0, deadline - time.monotonic())
            hold = round(min(left, LONG_POLL_SECONDS), 3)
            try:
                data = self._send(
                    "GET", f"approvals/{approval_id}/", params={"wait": hold}, timeout=hold + 15.0
                )
                return ApprovalState.from_dict(data)
            except ControlPlaneError as exc:
                if not exc.retryable or time.monotonic() + self.poll_interval >= deadline:
                    raise
                logger.warning("waxell-observe: waiting for approval %s: %s (retrying)", approval_id, exc)
                time.sleep(self.poll_interval)

    def close(self, approval_id: str, status: str) -> ApprovalState:
        data = self._send("POST", f"approvals/{approval_id}/close/", body={"status": status}, timeout=15.0)
        return ApprovalState.from_dict(data)
