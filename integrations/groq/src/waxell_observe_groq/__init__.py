"""waxell-observe auto-instrumentation for the Groq Python SDK (being written)."""
