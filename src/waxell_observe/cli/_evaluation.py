"""What the ``datasets`` and ``experiments`` commands share: where to work (the store named by
``--db``, or a control plane with ``--api-url``), errors as messages, and rich output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console

from waxell_observe.evaluation.backends import EvaluationBackend

__all__ = ["backend_for", "errors_as_messages", "console", "short", "number"]

T = TypeVar("T")


def backend_for(db: str | None, api_url: str, api_key: str) -> EvaluationBackend:
    """The control plane at ``api_url`` when given, else the store ``db`` (or the configuration's)."""
    from waxell_observe.evaluation.backends import LocalBackend, RemoteBackend

    if api_url:
        from waxell_observe.client import WaxellObserveClient

        return RemoteBackend(WaxellObserveClient(api_url=api_url, api_key=api_key or None))
    from waxell_observe.cli._store import open_store

    return LocalBackend(open_store(db).url)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Bad input, unknown names and an unreachable server become one-line CLI errors."""
    from waxell_observe.transport.errors import ControlPlaneError

    try:
        yield
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    except ControlPlaneError as exc:
        raise click.ClickException(f"the control plane answered: {exc.detail or exc}") from None


def console(width: int = 200) -> Console:
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else width)


def short(value: Any, limit: int = 60) -> str:
    """A value on one line, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: Any, digits: int = 4) -> str:
    """A number for a table (``-`` for none)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def call(action: Callable[[], T]) -> T:
    with errors_as_messages():
        return action()
