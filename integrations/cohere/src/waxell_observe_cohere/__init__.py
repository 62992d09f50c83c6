"""waxell-observe auto-instrumentation for the Cohere Python SDK (v2 chat) (being written)."""
