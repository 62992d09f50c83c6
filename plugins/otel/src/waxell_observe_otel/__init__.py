"""OpenTelemetry export for waxell-observe: every run becomes an OTLP trace."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
