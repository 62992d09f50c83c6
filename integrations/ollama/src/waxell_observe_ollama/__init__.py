"""waxell-observe auto-instrumentation for the Ollama Python client (being written)."""
