"""What ``serve`` and ``ui`` say when the control plane (``waxell-observe-server``) is not installed."""

from __future__ import annotations

import click

__all__ = ["INSTALL_HINT", "server_missing"]

INSTALL_HINT = "pip install waxell-observe-server (the same as pip install 'waxell-observe[server]')"


def server_missing(what: str, exc: ImportError, *, extra: str = "") -> click.ClickException:
    """The error a command raises when importing the control plane failed with ``exc``."""
    missing = (exc.name or "a dependency").split(".")[0]
    return click.ClickException(
        f"{what} needs the control plane, which is not installed ({missing} is missing): "
        f"{INSTALL_HINT}{extra}"
    )
