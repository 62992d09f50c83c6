"""What can go wrong talking to a control plane, classified for retries.

The protocol's rule: a 4xx is final for the client, 5xx / timeouts / connection errors are
worth retrying, and a 429 may say how long to wait (``Retry-After``).
"""

from __future__ import annotations

import math
import time

from waxell_observe.errors import WaxellObserveError

__all__ = ["MAX_RETRY_AFTER_SECONDS", "ControlPlaneError", "parse_retry_after"]

MAX_RETRY_AFTER_SECONDS = 300.0
"""A ``Retry-After`` longer than this is cut to it (a misconfigured server must not park us for days)."""


class ControlPlaneError(WaxellObserveError):
    """A request to the control plane failed.

    ``status`` is the HTTP status (``None`` when no answer came: timeout, refused connection,
    broken socket); ``retryable`` says whether trying again later may succeed (5xx, 429,
    timeouts, connection errors); ``retry_after`` is the server's ``Retry-After`` in seconds
    when it sent one; ``detail`` is the server's explanation (its ``detail`` field, or the
    start of the body). ``accepted`` is True for a 2xx whose body could not be read as a JSON
    object: the server took the request, but its reply is unusable.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        detail: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
        accepted: bool = False,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.accepted = accepted

    @property
    def final(self) -> bool:
        """True when retrying cannot help (a 4xx other than 429, a redirect, a bad reply)."""
        return not self.retryable

    def __repr__(self) -> str:
        return (
            f"ControlPlaneError({str(self)!r}, status={self.status!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r})"
        )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable; negative waits become 0 and
    waits longer than :data:`MAX_RETRY_AFTER_SECONDS` are cut to it.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        try:
            import email.utils  # ~10 ms: only when a server sends an HTTP-date Retry-After

            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
