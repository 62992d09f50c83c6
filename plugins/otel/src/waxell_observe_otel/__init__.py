"""OpenTelemetry export for waxell-observe: every run becomes an OTLP trace.

Installed, this package registers the ``otel`` plugin (entry point group ``waxell_observe``),
which exports runs when an OTLP endpoint is configured (see ``docs/opentelemetry.md``).
:func:`traceparent_for` gives the W3C ``traceparent`` of a run's span, for requests made on
the run's behalf. Importing this package does not import OpenTelemetry.
"""

from __future__ import annotations

from waxell_observe_otel.propagation import traceparent_for

__version__ = "0.1.0"

__all__ = ["__version__", "traceparent_for"]
