"""waxell-observe auto-instrumentation for the Together AI Python SDK (being written)."""
