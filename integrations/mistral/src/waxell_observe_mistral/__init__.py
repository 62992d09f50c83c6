"""waxell-observe auto-instrumentation for the Mistral AI Python SDK (being written)."""
