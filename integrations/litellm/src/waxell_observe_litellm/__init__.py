"""waxell-observe auto-instrumentation for LiteLLM (completion, acompletion, streaming) (being written)."""
